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
# # OOD accuracy during SFT, and RL from each SFT checkpoint
#
# Paper A {cite}`jin2025heals` fine-tunes a model on ID-rule hands only and evaluates every
# checkpoint under both rules. It reports that OOD accuracy rises while the answer format
# is learned, peaks early and then declines while ID accuracy keeps rising; that neither
# the train nor the held-out loss shows the peak; and that RL started from a checkpoint
# inside a window of SFT steps restores most of the lost OOD accuracy, while RL from
# earlier or later checkpoints does not. This chapter runs the same experiment on this
# book's model and states, claim by claim, whether it reproduces. **(a)** ID and OOD
# accuracy against the SFT step, with 95% Wilson intervals and the OOD peak marked.
# **(b)** Train and held-out loss on the same axis. **(c)** OOD accuracy after RL against
# the SFT checkpoint RL started from, over the SFT curve, with recovery fractions. Every
# number below comes from the cached runs of `sftrl.training.train` through `sftrl.experiments.figure1`; the
# verdicts are computed by the rules of `sftrl.claims.rules`, printed at the end.

# %%
from matplotlib_inline.backend_inline import set_matplotlib_formats
from myst_nb import glue

from sftrl import config
from sftrl.book import execute as book
from sftrl.claims import rules as claims
from sftrl.claims import papers
from sftrl.experiments import figure1 as study
from sftrl.book.plots import training as training_plots
from sftrl.book.plots import use_style

# %% tags=["parameters"]
# 0, -1 and "" stand for "the profile's value" (config.profile keeps a setting given as None or "")
profile: str = "cpu"  # run size: "smoke", "cpu" or "gpu"
model_base: str = ""  # model SFT starts from: HF id or local path ("" for the profile's base)
sft_steps: int = 0  # SFT length in optimizer steps (0 for the profile's)
sft_lr: float = 0.0  # SFT learning rate (0 for the profile's)
rl_steps: int = 0  # RL length in optimizer steps (0 for the profile's)
rl_lr: float = 0.0  # RL learning rate (0 for the profile's)
rl_from_steps: str = ""  # comma-separated SFT steps RL starts from ("" for the profile's)
rl_seeds: int = 0  # RL runs (seeds) per start (0 for the profile's)
eval_max_hands: int = -1  # hands per evaluation set (0 for every hand, -1 for the profile's)

# %%
cfg = config.profile(
    profile,
    model_base=model_base,
    sft_steps=sft_steps or None,
    sft_lr=sft_lr or None,
    rl_steps=rl_steps or None,
    rl_lr=rl_lr or None,
    rl_from_steps=rl_from_steps,
    rl_seeds=rl_seeds or None,
    eval_max_hands=None if eval_max_hands < 0 else eval_max_hands,
)
use_style()
set_matplotlib_formats("png")  # sftrl.book.plots selects the Agg backend: show figures as images
curve = study.sft_curve(cfg)  # SFT (trained once, cached) evaluated at step 0 and every kept checkpoint
peak = study.ood_peak(curve)
window = study.rl_window(cfg)  # RL from each of cfg.rl_from_steps, cfg.rl_seeds seeds each (cached)
verdicts = {v.claim: v for v in claims.figure1(curve, window)}

# %% [markdown]
# ## Paper A's numbers beside ours
#
# Paper A's rows are read off its figures; ours come from this page's runs (profile
# {glue:text}`profile`; {glue:text}`n_ood_hands` OOD and {glue:text}`n_id_hands` ID
# evaluation hands; greedy decoding, {glue:text}`eval_attempts` attempt(s) per hand). In
# our run the highest OOD accuracy along SFT is {glue:text}`peak_ood:.1%` at step
# {glue:text}`peak_step`, where ID accuracy is {glue:text}`id_at_peak:.1%`; at the end of
# SFT (step {glue:text}`end_step`) OOD accuracy is {glue:text}`ood_end:.1%` and ID accuracy
# {glue:text}`id_end:.1%`. For comparison, paper A's Llama-3.2-11B peaks at
# {glue:text}`paper_llama_ood_peak:.1%` OOD (step {glue:text}`paper_llama_peak_step`) and
# ends at {glue:text}`paper_llama_ood_end:.1%`. The models differ in size and pretraining,
# and paper A allows {glue:text}`paper_attempts` attempts per hand, so the levels are not
# comparable; the shape of the curves is what the verdicts judge.

# %%
training_plots.paper_table(peak, window, label=f"this book ({cfg.profile} profile)")

# %% [markdown]
# ## (a) ID and OOD accuracy during SFT
#
# {glue:text}`verdict_format_learned_before_peak`
#
# {glue:text}`verdict_ood_rise_and_decline`
#
# {glue:text}`verdict_id_keeps_rising`

# %%
fig, ax = training_plots.plot_accuracy(curve, peak=peak)
fig

# %% [markdown]
# ## (b) Train and held-out loss during SFT
#
# Paper A's point is practical: if the losses showed the OOD peak, one could stop SFT
# there. The dotted line marks our OOD-peak step.
# {glue:text}`verdict_loss_blind_to_peak`

# %%
fig, ax = training_plots.plot_losses(curve, peak=peak)
fig

# %% [markdown]
# ## (c) RL from each SFT checkpoint: the recovery window
#
# RL ({glue:text}`rl_steps` steps of GRPO with the verifier's {glue:text}`rl_reward` reward
# and KL coefficient {glue:text}`rl_beta`; paper A used PPO without a KL term, which current
# trl no longer offers) was started from {glue:text}`n_rl_starts` SFT checkpoints, with
# {glue:text}`rl_seeds_text` from each: the changes RL makes here are a few points, so
# one run cannot tell them from the spread between runs. Each arrow goes from OOD accuracy
# at the start checkpoint to the mean OOD accuracy after RL, with the 95% interval of that
# mean over the evaluation hands; a tick marks each seed. The label is the recovery
# fraction (OOD after RL minus OOD at the start, over the peak minus OOD at the start)
# where one is defined, else the change in points.
# {glue:text}`best_recovery_sentence`.
# {glue:text}`verdict_rl_restores_in_window`
#
# The verdict's rule is the one every verdict in this book uses: two accuracies differ
# when their separate 95% intervals do not overlap. The start checkpoint and the RL model
# are graded on the same hands, though, so a paired comparison can resolve smaller
# changes: {glue:text}`paired_sentence`

# %%
fig, ax = training_plots.plot_recovery(curve, window, peak=peak)
fig

# %%
training_plots.recovery_table(window)

# %% [markdown]
# ## Verdicts and the rules behind them
#
# Each verdict is computed from the numbers above by a fixed rule, stated in the last
# column; two accuracies differ only when the difference exceeds the sum of their 95%
# interval half-widths. A verdict of *not reproduced* means this run does not show the
# claim at that confidence, not that the claim is false for paper A's models.

# %%
training_plots.verdict_table(list(verdicts.values()))

# %%
glue("profile", cfg.profile, display=False)
glue("n_ood_hands", study.by_split(curve, "ood")[0]["n"], display=False)
glue("n_id_hands", study.by_split(curve, "id")[0]["n"], display=False)
glue("peak_step", peak.step, display=False)
glue("peak_ood", peak.ood, display=False)
glue("id_at_peak", peak.id, display=False)
glue("end_step", peak.end_step, display=False)
glue("ood_end", peak.ood_end, display=False)
glue("id_end", peak.id_end, display=False)
glue("eval_attempts", cfg.eval.attempts, display=False)
glue("rl_steps", cfg.rl.steps, display=False)
glue("rl_reward", cfg.rl.reward, display=False)
glue("rl_beta", cfg.rl.beta, display=False)
glue("n_rl_starts", len(window), display=False)
glue("rl_seeds_text", "one seed" if cfg.rl_seeds == 1 else f"{cfg.rl_seeds} seeds", display=False)
best = study.best_recovery(window)
glue("best_recovery", best["recovery"] if best else float("nan"), display=False)
glue("best_recovery_step", best["from_step"] if best else None, display=False)
glue("best_recovery_sentence", claims.best_recovery_sentence(window), display=False)
glue("paired_sentence", claims.paired_changes_sentence(window), display=False)
book.glue_verdicts(verdicts)
llama = papers.FIGURE1["Llama-3.2-11B"]
glue("paper_llama_ood_peak", llama.ood_peak, display=False)
glue("paper_llama_peak_step", llama.peak_step, display=False)
glue("paper_llama_ood_end", llama.ood_end, display=False)
glue("paper_attempts", papers.get("task.eval_attempts").value, display=False)
