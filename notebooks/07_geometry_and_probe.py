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
# # What decides where RL writes: precision, geometry and the off-principal probe
#
# Paper B {cite}`zhu2025pathnottaken` explains its masks with three gates: a KL anchor keeps
# each step small, the pretrained model's geometry steers small steps away from the
# principal directions, and bf16 precision rounds the smallest updates away, which makes
# the off-principal bias look like sparsity. This page tests the gates on the project's own
# model with three experiments that need training: a sweep over the RL learning rate and
# the weight dtype (precision), the same RL run from a function-preservingly permuted start
# (geometry), and RL restricted by gradient masks to off-principal, principal or random
# entries (the probe). Every run starts from the SFT checkpoint of
# {doc}`the previous page <06_rlvr_stripe_masks>`, and every sentence that judges a result
# is computed from the runs.

# %%
from typing import Optional

from matplotlib_inline.backend_inline import set_matplotlib_formats

from sftrl import config
from sftrl.book import pages, tables
from sftrl.book.plots import masks as mask_plots
from sftrl.book.plots import use_style
from sftrl.claims import rules
from sftrl.experiments import figure7

# %% tags=["parameters"]
profile: str = "cpu"  # run size: "smoke", "chat-smoke", "cpu" or "gpu"
model_base: Optional[str] = None  # base model: HF id or folder (None: the profile's)
start_step: int = -1  # SFT step all runs start from; -1: where the main RL model starts
study_steps: Optional[int] = None  # optimizer steps/run (None: profile's study budget)
study_lr: Optional[float] = None  # LR of the geometry test's runs (None: the profile's)
study_dtype: Optional[str] = None  # weight dtype: float32 or bfloat16 (None: profile's)
eta: float = 0.0  # updated if |new-old| > eta max(|old|,|new|) in bf16; 0: any change
alpha: float = 0.05  # fraction of a matrix in its principal and low-magnitude regions
k_frac: float = 0.2  # rank of the principal reconstruction, as a fraction of the rank
permute_seed: int = 1  # seed of the MLP hidden-unit permutations
probe_alpha: float = 0.2  # fraction of each block matrix the probe's mask lets RL train
probe_rank: float = 0.2  # rank fraction of the probe's principal reconstruction
probe_lr: Optional[float] = None  # learning rate of the probe runs (None: profile's)
probe_steps: Optional[int] = None  # optimizer steps of probe runs (None: study_steps)

# %%
use_style()
# sftrl.book.plots selects the Agg backend: show figures as images
set_matplotlib_formats("png")
cfg = config.profile(profile, model_base=model_base)
d = figure7.data(cfg, start_step=start_step, study_steps=study_steps, study_lr=study_lr,
                 study_dtype=study_dtype, eta=eta, alpha=alpha, k_frac=k_frac,
                 permute_seed=permute_seed, probe_alpha=probe_alpha,
                 probe_rank=probe_rank, probe_lr=probe_lr, probe_steps=probe_steps)
verdicts = rules.figure7(d)

# %% [markdown]
# ## Precision: the learning rate and the weight dtype
#
# RL and SFT from the same checkpoint, for {glue:text}`steps` steps each, at every learning
# rate of the sweep, with fp32 master weights (solid; the masks compare them after rounding
# to bf16) or with weights stored and updated in bf16 (dashed). Left: the share of weights
# left untouched; middle and right: the share of the principal and of the low-magnitude
# weights that were updated, divided by the update density (1 = chance; regions hold
# {glue:text}`alpha_pct:.0f`% of each matrix). A bf16 number keeps 8 significant bits, so an
# update smaller than about half a unit in the last place of a weight rounds away, and the
# large weights, where that unit is largest, lose their updates first.
# {glue:text}`regime_sentence`

# %%
fig, axes = mask_plots.plot_regime(d.regime)
fig

# %%
tables.regime_table(d.regime)

# %% [markdown]
# ## Geometry: the same RL run from a permuted start
#
# Permuting the hidden units of every MLP (rows of the gate and up projections, columns of
# the down projection) changes nothing the model computes. The run below repeats the first
# RL run of {doc}`the previous page <06_rlvr_stripe_masks>` from such a permuted start; its
# update mask is then compared with the original run's, once mapped back through the
# inverse permutation and once position by position as if nothing had been permuted. For
# scale: the second run's mask (another seed) and independent random masks of the same
# densities (chance). AdamW treats every entry alike and the sampled answers depend only on
# what the model computes, so in exact arithmetic the permuted run is the original one with
# its entries moved: mapped back, the masks should agree up to floating-point rounding. What
# the test shows is whether the preferred entries travel with the model's parametrisation,
# as paper B's geometry gate says, or stay at fixed positions. A rotation of the value space
# would test more, since Adam is not rotation-equivariant; the pipeline does not run one
# yet.
#
# ```{glue:md} verdict_preferred_entries_follow_geometry
# :format: myst
# ```

# %%
fig, ax = mask_plots.plot_geometry(d.geometry)
fig

# %% [markdown]
# ## The off-principal probe: reward during training
#
# RL at learning rate {glue:text}`probe_lr:g` with a gradient mask that lets it train
# {glue:text}`probe_alpha_pct:.0f`% of the entries of every block matrix: the smallest
# entries outside the principal weights (*off-principal*), the principal weights
# themselves, or a random set; against dense RL. Paper B predicts that RL restricted to
# off-principal entries tracks dense RL and that RL restricted to the principal ones does
# worst.
#
# ```{glue:md} verdict_off_principal_probe
# :format: myst
# ```

# %%
fig, ax = mask_plots.plot_reward_curves(d.curves)
fig

# %% [markdown]
# ## The off-principal probe: ID and OOD accuracy at the end
#
# Accuracy under the papers' protocol (see {doc}`09_methods`) on the ID hands and on the
# OOD hands (J, Q, K = 11, 12, 13) of the start and of each probe run's last checkpoint,
# with 95% Wilson intervals.

# %%
fig, ax = mask_plots.plot_probe_accuracy(d.probe)
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
    "steps": d.scfg.steps, "alpha_pct": 100 * alpha, "probe_lr": d.scfg.probe_lr,
    "probe_alpha_pct": 100 * d.scfg.probe_alpha,
    "regime_sentence": rules.regime_sentence(d.regime),
}, verdicts)
