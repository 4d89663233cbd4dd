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
# # Singular values barely move under SFT and RL
#
# Paper A {cite}`jin2025heals` decomposes every weight matrix as $W = U\,\mathrm{diag}(\sigma)\,V^\top$
# and compares the base, the end of SFT and the RL model. It reports that the singular
# values hardly change ({glue:text}`paper_sigma_change` on average over the q, k, v and down
# projections),
# and that putting the singular values of the SFT checkpoint with the best OOD accuracy into
# the final SFT model, whose OOD accuracy has declined, leaves that model's accuracy where
# it was: whatever SFT destroys and RL restores, it is not the singular values. This page
# repeats the analysis on every two-dimensional weight of this book's models.
# **(a)** The singular values of one layer's matrices for Base, SFT end and RL, with their
# differences. **(b)** The mean relative change $|\Delta\sigma_i|/\sigma_i$ per layer and
# matrix type, for each pair of models. **(c)** The sigma-swap ablation: the SFT-peak
# model's top singular values put into the SFT-end model (its singular vectors kept), with
# ID and OOD accuracy. The verdicts are computed by the rules of `sftrl.claims.rules`, printed at
# the end.

# %%
from typing import Optional

from matplotlib_inline.backend_inline import set_matplotlib_formats

from sftrl import config
from sftrl.book import pages, tables
from sftrl.book.plots import spectral as spectral_plots
from sftrl.book.plots import use_style
from sftrl.claims import papers, seeds
from sftrl.experiments import figure2

# %% tags=["parameters"]
profile: str = "cpu"  # run size: "smoke", "chat-smoke", "cpu" or "gpu"
model_base: Optional[str] = None  # base model: HF id or folder (None: the profile's)
base: Optional[str] = None  # base checkpoint, folder or hub id (None: the pipeline's)
sft_peak: Optional[str] = None  # SFT checkpoint at the OOD peak (None: the pipeline's)
sft_end: Optional[str] = None  # last SFT checkpoint (None: the pipeline's)
rl: Optional[str] = None  # RL checkpoint trained from sft_end (None: the pipeline's)
layer: int = -1  # layer whose spectra panel (a) shows (-1 for the middle one)
kinds: str = ""  # comma-separated matrix kinds, e.g. "q,k,v,down" as paper A ("": all)
k_frac: float = 0.2  # top-k as a fraction of each matrix's rank, for the spectral drift
swap_fractions: str = "0.05,0.2,0.5,1.0"  # top singular-value fractions swapped in (c)

# %%
use_style()
# sftrl.book.plots selects the Agg backend: show figures as images
set_matplotlib_formats("png")
cfg = config.profile(profile, model_base=model_base)
d = figure2.data(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl, layer=layer,
                  kinds=kinds, k_frac=k_frac, swap_fractions=swap_fractions)
# the rules of sftrl.claims.rules, across SFT seeds
verdicts = seeds.judged("fig2", d, cfg)

# %% [markdown]
# ## The models
#
# {glue:text}`models_sentence`

# %%
spectral_plots.models_table(d.models.describe())

# %% [markdown]
# ## Paper A's numbers beside ours
#
# Paper A's models have billions of parameters; this book's model is small and trained at
# larger learning rates, so the levels are not comparable one to one. Values marked *(unconfirmed)* could not be checked against the
# paper itself.

# %%
spectral_plots.fig2_paper_table(d.numbers)

# %% [markdown]
# ## (a) The singular values of layer {glue:text}`layer_used`
#
# For each matrix type of layer {glue:text}`layer_used`: the singular values $\sigma_i$ of
# Base, SFT end and RL (logarithmic axis), and under them the relative change from the base,
# $(\sigma_i - \sigma_i^{\mathrm{base}})/\sigma_i^{\mathrm{base}}$, in percent. Curves on top of
# each other mean the spectrum did not move; the smallest singular values, near zero, show
# the largest relative changes.

# %%
fig, axes = spectral_plots.plot_layer_spectra(d.spectra, layer=d.layer)
fig

# %% [markdown]
# ## (b) Relative change of the singular values, per layer and matrix type
#
# Each cell is the mean of $|\Delta\sigma_i|/\sigma_i$ over all singular values of one
# matrix, in percent, relative to the first model of the pair. Over the transformer blocks'
# matrices the mean is {glue:text}`dsigma_base_sft:.2%` from Base to SFT,
# {glue:text}`dsigma_sft_rl:.2%` from SFT to RL and {glue:text}`dsigma_base_rl:.2%` from
# Base to RL; paper A reports {glue:text}`paper_sigma_change`.
#
# ```{glue:md} verdict_singular_values_stable
# :format: myst
# ```

# %%
fig, axes = spectral_plots.plot_pair_heatmaps(d.rows, ("mean_rel_dsigma",))
fig

# %% [markdown]
# The same statistics pooled per pair; *embeddings* are the input embedding and the LM head,
# which have no layer. The spectral drift is the relative change of the top-k singular
# values as a vector (k = {glue:text}`k_pct:.0f`% of the rank), paper B's measure
# {cite}`zhu2025pathnottaken`.

# %%
spectral_plots.summary_table(d.summary, ("mean_rel_dsigma", "spectral_drift"))

# %% [markdown]
# ## (c) The sigma-swap ablation
#
# For each fraction on the horizontal axis, every block matrix of the SFT-end model keeps its
# singular vectors and takes the SFT-peak model's largest singular values in place of its own
# (1 = all of them). If the singular values carried the OOD ability lost after the peak, OOD
# accuracy would climb toward the dashed line. The SFT-peak model has OOD accuracy
# {glue:text}`ood_sft_peak:.1%` and the SFT end {glue:text}`ood_sft_end:.1%`; after the swap,
# OOD accuracy ranges from {glue:text}`swap_ood_min:.1%` to {glue:text}`swap_ood_max:.1%`.
# Paper A reports {glue:text}`paper_swap_ood` for Llama, flat in k.
#
# ```{glue:md} verdict_sigma_swap_keeps_accuracy
# :format: myst
# ```

# %%
fig, ax = spectral_plots.plot_fraction_sweep(
    d.swap, target=d.anchors["sft_end"], reference=d.anchors["sft_peak"],
    xlabel="fraction of top singular values from the SFT peak")
fig

# %%
spectral_plots.accuracy_table([d.anchors["sft_end"], *d.swap, d.anchors["sft_peak"]])

# %% [markdown]
# ## Verdicts and the rules behind them
#
# Each verdict is computed from the numbers above by a fixed rule, stated in the last
# column; two accuracies differ only when the difference exceeds the sum of their 95%
# interval half-widths. *Not reproduced* means this run does not show the claim at that
# confidence, not that the claim is false for paper A's models.

# %%
tables.verdict_table(verdicts)

# %%
pages.glue_all({
    "models_sentence": d.models.sentence(), "layer_used": d.layer,
    "k_pct": 100 * k_frac,
    **d.numbers,
    "paper_sigma_change": papers.get("fig2.sigma_change").text(),
    "paper_swap_ood": papers.get("fig2.sigma_swap_llama_ood").text(),
}, verdicts)
