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
# # Where RL writes: bf16 update masks across runs
#
# *The Path Not Taken* {cite}`zhu2025pathnottaken` ("paper B") reads RL's effect off the
# weights themselves: cast the starting model and the RL model to bf16 and mark every entry
# whose value changed. B reports that RL leaves most entries untouched while SFT changes
# nearly all, that independent RL runs from one model update the *same* entries (rows and
# columns light up as stripes), that those entries avoid the *principal weights* of LIFT
# {cite}`liu2025lift` and favour small ones, and that RL barely moves the top of the
# spectrum. This page measures each claim on {glue:text}`inputs_sentence` The start
# checkpoint plays the role of B's base: every mask compares a run's end with it. The
# sentences below are computed from the data, so they state what the project's models show,
# whichever way it falls; {doc}`the next page <07_geometry_and_probe>` asks where the
# effects come from.

# %%
from typing import Optional

from matplotlib_inline.backend_inline import set_matplotlib_formats

from sftrl import config
from sftrl.book import pages, tables
from sftrl.book.plots import masks as mask_plots
from sftrl.book.plots import use_style
from sftrl.claims import papers, rules
from sftrl.experiments import figure6

# %% tags=["parameters"]
profile: str = "cpu"  # run size: "smoke", "chat-smoke", "cpu" or "gpu"
model_base: Optional[str] = None  # base model: HF id or folder (None: the profile's)
base_path: Optional[str] = None  # runs' start checkpoint; None: pipeline's RL start
rl_paths: Optional[str] = None  # comma-separated RL checkpoints, 2+; None: the K runs
sft_paths: Optional[str] = None  # comma-separated SFT checkpoints; None: SFT contrast
step_paths: Optional[str] = None  # one run's checkpoints in order; None: first RL run's
start_step: int = -1  # SFT step the runs start from; -1: where the main RL model starts
study_steps: Optional[int] = None  # optimizer steps/run (None: profile's study budget)
study_lr: Optional[float] = None  # LR of the K RL and SFT runs (None: the profile's)
study_dtype: Optional[str] = None  # weight dtype: float32 or bfloat16 (None: profile's)
layer: int = -1  # layer of the consistency images and row/column ratios; -1: middle one
eta: float = 0.0  # updated if |new-old| > eta max(|old|,|new|) in bf16; 0: any change
alpha: float = 0.05  # fraction of a matrix in its principal and low-magnitude regions
k_frac: float = 0.2  # rank of principal reconstruction, drift, angles / the full rank
ratio_kind: str = "o"  # matrix kind for the row/column update ratios over training
kinds: str = ""  # comma-separated kinds, e.g. "q,k,v,o,down" at 1.5B scale; "" for all

# %%
use_style()
# sftrl.book.plots selects the Agg backend: show figures as images
set_matplotlib_formats("png")
cfg = config.profile(profile, model_base=model_base)
d = figure6.data(cfg, base_path=base_path, rl_paths=rl_paths, sft_paths=sft_paths,
                 step_paths=step_paths, start_step=start_step, study_steps=study_steps,
                 study_lr=study_lr, study_dtype=study_dtype, layer=layer, eta=eta,
                 alpha=alpha, k_frac=k_frac, ratio_kind=ratio_kind, kinds=kinds)
verdicts = rules.figure6(d)

# %% [markdown]
# ## The checkpoints
#
# The {glue:text}`n_rl` RL and {glue:text}`n_sft` SFT checkpoints analysed. Paper B's
# RLVR runs are single-turn (one answer, one verifiable reward), and so are this page's
# RL runs; Figure 1's RL plays the papers' multi-turn episodes instead. For the
# project's runs, *reward start* and *reward end* are the mean reward over the first and
# the last quarter of training, and *no signal* the mean share of prompts whose samples all
# earned the same reward: GRPO gets no gradient from them, so a run with no signal at all
# cannot move a weight.

# %%
tables.checkpoints_table(d.checkpoints)

# %% [markdown]
# ## Stripes: where one layer's updates land
#
# For each entry of the query, key, value, output and down projections of layer
# {glue:text}`layer`, the fraction of the RL runs that updated it (rows are output units,
# columns input features; large matrices are block-averaged). Rows or columns that every run
# updates show as bright stripes; entries no run touched are dark.
#
# ```{glue:md} verdict_masks_consistent_across_runs
# :format: myst
# ```

# %%
fig, axes = mask_plots.plot_consistency_images(d.analysis.images)
fig

# %% [markdown]
# ## Update sparsity, RL against SFT
#
# The share of entries whose bf16 value did not change, per matrix kind and over all
# matrices, pooled over the RL runs. Paper B reports an RL sparsity of
# {glue:text}`paper_rl_sparsity` (the dotted line) and dense SFT updates. B also states a
# tolerance form of the mask with eta = {glue:text}`paper_eta`; any eta below 2^-8 marks
# exactly the entries whose bf16 value changed, which is what this page counts unless
# `eta` is set.
#
# ```{glue:md} verdict_rl_sparse_sft_dense
# :format: myst
# ```

# %%
fig, ax = mask_plots.plot_sparsity_bars(d.sparsity_by_kind,
                                        paper=papers.get("fig6.rl_sparsity").value)
fig

# %% [markdown]
# ## Entries every run updated, against chance
#
# If the runs chose their entries independently, an entry would be updated by all of them
# with the product of their update densities; the orange bars are that expectation, per
# matrix kind (weighted by entries).

# %%
fig, ax = mask_plots.plot_consistency_vs_chance(*d.in_all)
fig

# %% [markdown]
# ## Pairwise agreement, against chance
#
# One point per pair of RL runs: the Jaccard index of their masks (pooled over matrices)
# against that of independent random masks with the same per-matrix densities. Points above
# the diagonal agree more than chance. The mean over pairs is
# {glue:text}`jaccard:.3f`, against {glue:text}`jaccard_expected:.3f` by chance.

# %%
fig, ax = mask_plots.plot_jaccard_vs_chance(d.analysis.jaccard,
                                            d.analysis.jaccard_expected)
fig

# %% [markdown]
# ## Principal and low-magnitude weights
#
# The principal weights of a matrix are the {glue:text}`alpha_pct:.0f`% of entries largest in
# magnitude in its rank-k reconstruction (k = {glue:text}`k_pct:.0f`% of the rank), the
# low-magnitude weights the {glue:text}`alpha_pct:.0f`% smallest entries of the matrix itself.
# Each bar is the share of a region that was updated; the tick over it is the chance level,
# the model's update density.
#
# ```{glue:md} verdict_rl_off_principal
# :format: myst
# ```

# %%
fig, ax = mask_plots.plot_overlap_vs_chance(*d.overlaps)
fig

# %% [markdown]
# ## Spectral drift and principal angles per layer
#
# Relative change of the top-k singular values and the largest principal angle between the
# top-k left singular subspaces before and after fine-tuning, averaged over each layer's
# matrices and the runs. A third-party reading of paper B's figure puts the principal
# subspace rotation at {glue:text}`paper_rl_rotation` for RL and
# {glue:text}`paper_sft_rotation` for SFT.
#
# ```{glue:md} verdict_rl_little_spectral_drift
# :format: myst
# ```

# %%
fig, axes = mask_plots.plot_drift_angle(*d.drift)
fig

# %% [markdown]
# ## When the pattern forms
#
# Row and column update ratios of {glue:text}`ratio_name` at each kept checkpoint of one
# run, every checkpoint against the start: the share of each output unit's (row) and input
# feature's (column) entries updated so far, sorted by the final ratio. A band that is
# bright from the first steps on means the pattern is fixed early.

# %%
fig, axes = mask_plots.plot_update_ratios(d.ratios.steps, d.ratios.rows, d.ratios.cols)
fig

# %% [markdown]
# ## Verdicts and the rules behind them
#
# Each verdict is computed from the numbers above by the rule in the last column, the same
# rule the {doc}`claims page <08_claims>` applies.

# %%
tables.verdict_table(verdicts)

# %%
pages.glue_all({
    **d.numbers, "alpha_pct": 100 * alpha, "k_pct": 100 * k_frac,
    "ratio_name": d.ratios.name,
    "inputs_sentence": d.inputs_sentence,
    "paper_rl_sparsity": papers.get("fig6.rl_sparsity").text(),
    "paper_eta": papers.get("fig6.mask_eta").text(),
    "paper_rl_rotation": papers.get("fig3.rl_rotation").text(),
    "paper_sft_rotation": papers.get("fig3.sft_rotation").text(),
}, verdicts)
