# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (sftrl)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Singular vectors rotate: principal angles between checkpoints
#
# If the singular values stay put ({doc}`02_singular_value_stability`), whatever SFT and RL
# change must sit in the singular *vectors*. Paper A {cite}`jin2025heals` measures it with
# principal angles: for the top-k left singular vectors $U_a$, $U_b$ of the same matrix in two
# checkpoints, $\theta_i = \arccos \sigma_i(U_a^\top U_b)$ in degrees, and likewise for the
# right vectors $V$. Zero means the two subspaces coincide, 90 degrees that a direction of
# one is orthogonal to the other. Paper B {cite}`zhu2025pathnottaken` reports (in a
# third-party reading of its figure) a rotation of {glue:text}`paper_rl_rotation` for RL
# against {glue:text}`paper_sft_rotation` for SFT. A pitfall in paper A's own plots: two k-dimensional subspaces of
# $\mathbb{R}^m$ share at least $2k - m$ dimensions, so for $k > m/2$ the first $2k - m$
# angles are zero by construction. This page caps k at $m/2$ unless told otherwise, and
# shades forced zeros where they occur. **(a)** The angle curves of one layer's matrices for
# Base → SFT, SFT → RL and Base → RL, left and right vectors. **(b)** The mean angle per
# layer and matrix type, left and right vectors. The verdicts are computed by the rules of
# `sftrl.claims.rules`, printed at the end.

# %%
from typing import Optional

from matplotlib_inline.backend_inline import set_matplotlib_formats

from sftrl import config
from sftrl.book import pages, tables
from sftrl.book.plots import spectral as spectral_plots
from sftrl.book.plots import use_style
from sftrl.claims import papers, seeds
from sftrl.experiments import figure3

# %% tags=["parameters"]
profile: str = "cpu"  # run size: "smoke", "chat-smoke", "cpu" or "gpu"
model_base: Optional[str] = None  # base model: HF id or folder (None: the profile's)
base: Optional[str] = None  # base checkpoint, folder or hub id (None: the pipeline's)
sft_peak: Optional[str] = None  # SFT checkpoint at the OOD peak (None: the pipeline's)
sft_end: Optional[str] = None  # last SFT checkpoint (None: the pipeline's)
rl: Optional[str] = None  # RL checkpoint trained from sft_end (None: the pipeline's)
layer: int = -1  # layer whose angle curves panel (a) shows (-1 for the middle one)
kinds: str = ""  # comma-separated matrix kinds, e.g. "q,k,v,down" as paper A ("": all)
k_frac: float = 0.2  # top-k subspace as a fraction of each matrix's rank
cap_k: bool = True  # cap k at half the dimension in (a); False shades the forced zeros

# %%
use_style()
# sftrl.book.plots selects the Agg backend: show figures as images
set_matplotlib_formats("png")
cfg = config.profile(profile, model_base=model_base)
d = figure3.data(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl, layer=layer,
                  kinds=kinds, k_frac=k_frac, cap_k=cap_k)
# the rules of sftrl.claims.rules, across SFT seeds
verdicts = seeds.judged("fig3", d, cfg)

# %% [markdown]
# ## The models
#
# {glue:text}`models_sentence`

# %%
spectral_plots.models_table(d.models.describe())

# %% [markdown]
# ## Paper B's readings beside ours
#
# Both readings of paper B are *unconfirmed*: they come from a third party's reading of its
# figure, not from the paper's text. Our numbers are the mean and the largest angle over the
# transformer blocks' matrices, between top-k left singular subspaces with k =
# {glue:text}`k_pct:.0f`% of the rank.

# %%
spectral_plots.fig3_paper_table(d.numbers)

# %% [markdown]
# ## (a) Principal angles in layer {glue:text}`layer_used`
#
# One panel per matrix type; the top row compares left singular vectors (the output side),
# the bottom row right singular vectors (the input side). Of the {glue:text}`n_curves`
# curves, {glue:text}`n_capped` had k lowered to half the dimension, and
# {glue:text}`n_forced_zero` angles are zero by construction (shaded).

# %%
fig, axes = spectral_plots.plot_angle_grid(d.curves)
fig

# %% [markdown]
# ## (b) Mean principal angle per layer and matrix type
#
# Top: left singular vectors; bottom: right singular vectors; one column per pair of
# models, with k capped at half the dimension. Over the transformer blocks' matrices, the
# mean left angle is {glue:text}`mean_angle_u_base_sft:.2f` degrees from Base to SFT and
# {glue:text}`mean_angle_u_sft_rl:.2f` degrees from SFT to RL, against a mean relative
# change of the singular values of {glue:text}`mean_rel_dsigma_base_sft:.2%` and
# {glue:text}`mean_rel_dsigma_sft_rl:.2%`. The input embedding and the LM head, which have
# no layer, are in the table below.
#
# ```{glue:md} verdict_vectors_rotate_values_stable
# :format: myst
# ```
#
# ```{glue:md} verdict_rl_rotates_less_than_sft
# :format: myst
# ```

# %%
fig, axes = spectral_plots.plot_pair_heatmaps(d.rows, ("mean_angle_u", "mean_angle_v"))
fig

# %%
spectral_plots.summary_table(
    d.summary, ("mean_angle_u", "max_angle_u", "mean_angle_v", "max_angle_v"))

# %% [markdown]
# ## Verdicts and the rules behind them
#
# Each verdict is computed from the numbers above by a fixed rule, stated in the last
# column. *Not reproduced* means this run does not show the claim, not that the claim is
# false for the papers' models.

# %%
tables.verdict_table(verdicts)

# %%
pages.glue_all({
    "models_sentence": d.models.sentence(), "layer_used": d.layer,
    "k_pct": 100 * k_frac,
    **d.numbers,
    "paper_rl_rotation": papers.get("fig3.rl_rotation").text(),
    "paper_sft_rotation": papers.get("fig3.sft_rotation").text(),
}, verdicts)
