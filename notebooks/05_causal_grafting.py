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
from matplotlib_inline.backend_inline import set_matplotlib_formats
from myst_nb import glue

from sftrl import config
from sftrl.book import execute as book
from sftrl.claims import rules as claims
from sftrl.claims import papers
from sftrl.experiments import spectral_study as ss
from sftrl.weights.checkpoints import parse_kinds
from sftrl.book.plots import spectral as spectral_plots
from sftrl.book.plots import training as training_plots
from sftrl.book.plots import use_style

# %% tags=["parameters"]
profile: str = "cpu"  # run size: "smoke", "cpu" or "gpu"
model_base: str = ""  # model the pipeline fine-tunes: HF id or local path ("" for the profile's base)
base: str = ""  # base checkpoint, local folder or hub id ("" for the pipeline's; only listed on this page)
sft_peak: str = ""  # SFT checkpoint with the best OOD accuracy ("" for the pipeline's; only listed on this page)
sft_end: str = ""  # last SFT checkpoint ("" for the pipeline's)
rl: str = ""  # RL checkpoint trained from sft_end ("" for the pipeline's)
kinds: str = ""  # comma-separated matrix kinds rebuilt ("" for the transformer blocks' seven kinds)

# %%
use_style()
set_matplotlib_formats("png")  # sftrl.book.plots selects the Agg backend: show figures as images
cfg = config.profile(profile, model_base=model_base)
kinds_used = parse_kinds(kinds)
models = ss.models(cfg, base=base, sft_peak=sft_peak, sft_end=sft_end, rl=rl)
rows = ss.grafting(models, cfg, kinds=kinds_used)  # four edited checkpoints, written and evaluated once
numbers = ss.numbers_fig5(rows)
verdicts = {v.claim: v for v in claims.figure5(rows)}

# %% [markdown]
# ## The models
#
# {glue:text}`models_sentence`

# %%
spectral_plots.models_table(ss.describe_models(models))

# %% [markdown]
# ## Paper A's claims beside our numbers

# %%
spectral_plots.fig5_paper_table(numbers)

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
# {glue:text}`verdict_sft_directions_lower_rl_ood`
#
# {glue:text}`verdict_rl_directions_keep_ood`
#
# {glue:text}`verdict_sigma_only_swap_changes_nothing`

# %%
fig, ax = spectral_plots.plot_accuracy_bars(rows)
fig

# %%
spectral_plots.accuracy_table(rows, recovery=False)

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
training_plots.verdict_table(list(verdicts.values()))

# %%
glue("models_sentence", ss.models_sentence(models), display=False)
for name, value in numbers.items():
    glue(name, value, display=False)
glue("paper_graft_sft_vectors", papers.get("fig5.graft_sft_vectors").text(), display=False)
glue("paper_graft_rl_vectors", papers.get("fig5.graft_rl_vectors").text(), display=False)
book.glue_verdicts(verdicts)
