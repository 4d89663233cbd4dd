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
# # Claims and results
#
# Every claim of paper A {cite}`jin2025heals` and paper B {cite}`zhu2025pathnottaken` that
# this book tests, in one table: the paper's number (marked *(unconfirmed)* where it could
# not be confirmed from the paper itself), ours from the runs of the
# {glue:text}`profile` profile, and a verdict, *reproduced*, *partly*, *not reproduced* or
# *mixed across seeds*, computed by a fixed rule from our numbers. {glue:text}`counts_sentence`
#
# {glue:text}`seeds_sentence`
#
# The verdicts are computed here, with each figure page's default parameters, from the
# same cached runs, edited checkpoints and analyses the figure pages made; the figure pages
# show the evidence. A claim whose figure could not be computed in this build is listed as
# *not evaluated* with the reason, and counts as no result.

# %%
from typing import Optional

from sftrl import config
from sftrl.book import pages, tables
from sftrl.claims import papers, rules, scoreboard, seeds
from sftrl.experiments import size_study

# %% tags=["parameters"]
profile: str = "cpu"  # run size judged: "smoke", "chat-smoke", "cpu" or "gpu"
model_base: Optional[str] = None  # base model: HF id or folder (None: the profile's)

# %%
cfg = config.profile(profile, model_base=model_base)
# reads the figure pages' cached results; makes only what is missing
rows = scoreboard.claim_rows(cfg)
counts = scoreboard.verdict_counts(rows)
# the size study's log (make study), judged by today's rules
sizes = size_study.read()
size_verdicts = rules.size_verdicts(sizes)

# %% [markdown]
# ## The papers' numbers and ours
#
# One row per claim, in the order of the book: Figure 1 is
# {doc}`01_ood_peak_and_decline`, Figures 2 to 5 are {doc}`02_singular_value_stability`,
# {doc}`03_principal_angles`, {doc}`04_restoration` and {doc}`05_causal_grafting`, and
# paper B's claims are on {doc}`06_rlvr_stripe_masks` and {doc}`07_geometry_and_probe`.
# The *ours* column holds the numbers each verdict was decided on. The papers fine-tune
# models far larger than this book's; both count a hand as solved within
# {glue:text}`paper_attempts` attempts with the verifier's feedback, ours
# {glue:text}`eval_attempts` (see {doc}`09_methods`). Accuracy levels are not comparable,
# so the rules judge the direction and the size of each effect against its own uncertainty.
#
# ### Paper A: SFT forgets OOD, RL restores it

# %%
tables.claims_table(rows, paper="A")

# %% [markdown]
# ### Paper B: where RL writes

# %%
tables.claims_table(rows, paper="B")

# %% [markdown]
# ### Paper A at other sizes of this book's model
#
# Whether RL restored OOD accuracy, size by size, under the papers' protocol and the
# seed-robust rule of Figure 1's recovery window (a start counts only where every seed
# raises OOD beyond the intervals), from the size study's committed log; the panel is on
# {doc}`01_ood_peak_and_decline`. {glue:text}`size_sentence`

# %%
tables.size_table(sizes, size_verdicts, size_study.is_current)

# %% [markdown]
# ## How the verdicts are decided
#
# Two accuracies differ only when the difference exceeds the sum of their 95% Wilson
# interval half-widths, which is stricter than combining them in quadrature. For the
# update masks of paper B, a share of entries counts as above or below its chance level
# when its binomial z-score is beyond ±{glue:text}`z_chance` (the entries of a matrix are
# not independent, so the score is a guide rather than a test). A verdict of *not
# reproduced* says that our run does not show the claim at that confidence, not that the
# claim is false for the papers' models. Every claim has one rule, in `sftrl.claims.rules`;
# each figure page shows its claims' verdicts by the same rules. Each rule below is the text
# of the function that applies it.

# %%
tables.rules_table(rows)

# %%
pages.glue_all({
    "profile": cfg.profile, "counts_sentence": scoreboard.counts_sentence(rows),
    "n_claims": len(rows),
    "seeds_sentence": seeds.seeds_sentence(cfg),
    "size_sentence": rules.size_sentence(sizes, size_verdicts),
    **{f"n_{verdict.replace(' ', '_')}": count for verdict, count in counts.items()},
    "z_chance": rules.Z_CHANCE, "eval_attempts": cfg.eval.attempts,
    "paper_attempts": papers.get("task.eval_attempts").value,
    **{f"verdict_{row.key}": row.verdict for row in rows},
    "scoreboard": tables.Scoreboard(rows),  # pasted into the book's first page
})
