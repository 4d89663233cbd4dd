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
# # Causal grafting: do the directions or the magnitudes carry RL's OOD accuracy?
#
# Paper A {cite}`jin2025heals` closes its argument with a swap between the end of SFT and
# the RL model trained from it. Each block matrix of one model is rebuilt from the singular
# vectors of one and the singular values of the other. Imposing SFT's vectors on the RL
# model, $W = U_{\mathrm{SFT}}\,\mathrm{diag}(\sigma_{\mathrm{RL}})\,V_{\mathrm{SFT}}^\top$,
# should lose what RL regained out of distribution (the paper's numbers for this are
# *unconfirmed*); the reverse, $W = U_{\mathrm{RL}}\,\mathrm{diag}(\sigma_{\mathrm{SFT}})\,V_{\mathrm{RL}}^\top$,
# should keep it, and swapping only the singular values should change nothing. Together:
# the directions, not the magnitudes, carry the OOD ability. Only the block matrices are
# rebuilt; norms, embedding and LM head stay those of the model being edited. That is all
# that separates *RL + SFT directions* from *SFT + RL σ* (and *SFT + RL directions* from
# *RL + SFT σ*): their block matrices are the same. **(a)** ID and OOD accuracy of the two
# models and the four grafts, with 95% intervals. The verdicts are computed by the rules of
# `sftrl.claims.rules`, printed at the end.

# %%
from typing import Optional

from matplotlib_inline.backend_inline import set_matplotlib_formats

from sftrl import config
from sftrl.book import pages, tables
from sftrl.book.plots import spectral as spectral_plots
from sftrl.book.plots import use_style
from sftrl.claims import papers, seeds
from sftrl.experiments import figure5

# %% tags=["parameters"]
profile: str = "cpu"  # run size: "smoke", "chat-smoke", "cpu" or "gpu"
model_base: Optional[str] = None  # base model: HF id or folder (None: the profile's)
base: Optional[str] = None  # base checkpoint (None: the pipeline's; only listed here)
sft_peak: Optional[str] = None  # SFT OOD peak (None: the pipeline's; only listed here)
sft_end: Optional[str] = None  # last SFT checkpoint (None: the pipeline's)
rl: Optional[str] = None  # RL checkpoint trained from sft_end (None: the pipeline's)
kinds: str = ""  # comma-separated matrix kinds rebuilt ("" for the blocks' seven kinds)

# %%
use_style()
# sftrl.book.plots selects the Agg backend: show figures as images
set_matplotlib_formats("png")
cfg = config.profile(profile, model_base=model_base)
d = figure5.data(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl, kinds=kinds)
# the rules of sftrl.claims.rules, across SFT seeds
verdicts = seeds.judged("fig5", d, cfg)

# %% [markdown]
# ## The models
#
# {glue:text}`models_sentence`

# %%
spectral_plots.models_table(d.models.describe())

# %% [markdown]
# ## Paper A's claims beside our numbers

# %%
spectral_plots.fig5_paper_table(d.numbers)

# %% [markdown]
# ## (a) Accuracy of the grafted models
#
# RL has OOD accuracy {glue:text}`ood_rl:.1%` and the SFT end {glue:text}`ood_sft_end:.1%`.
# With SFT's directions and its own singular values the RL model reaches
# {glue:text}`ood_rl_sft_directions:.1%`; the SFT model with RL's directions
# {glue:text}`ood_sft_rl_directions:.1%`. Swapping only the singular values gives
# {glue:text}`ood_rl_sft_sigma:.1%` (RL with SFT's σ) and {glue:text}`ood_sft_rl_sigma:.1%`
# (SFT with RL's σ).
#
# ```{glue:md} verdict_sft_directions_lower_rl_ood
# :format: myst
# ```
#
# ```{glue:md} verdict_rl_directions_keep_ood
# :format: myst
# ```
#
# ```{glue:md} verdict_sigma_only_swap_changes_nothing
# :format: myst
# ```

# %%
fig, ax = spectral_plots.plot_accuracy_bars(d.grafts)
fig

# %%
spectral_plots.accuracy_table(d.grafts, recovery=False)

# %% [markdown]
# ## Verdicts and the rules behind them
#
# Each verdict is computed from the numbers above by a fixed rule, stated in the last
# column; two accuracies differ only when the difference exceeds the sum of their 95%
# interval half-widths. Every rule needs RL to be above the SFT end out of distribution:
# without an OOD gain there is nothing for the directions or the magnitudes to carry.
# *Not reproduced* means this run does not show the claim at that confidence, not that the
# claim is false for paper A's models.

# %%
tables.verdict_table(verdicts)

# %%
pages.glue_all({
    "models_sentence": d.models.sentence(), **d.numbers,
    "paper_graft_sft_vectors": papers.get("fig5.graft_sft_vectors").text(),
    "paper_graft_rl_vectors": papers.get("fig5.graft_rl_vectors").text(),
}, verdicts)
