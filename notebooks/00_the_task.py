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
# # The task: make 24, under a rule the model must read
#
# GeneralPoints {cite}`chu2025sftmemorizes` deals four cards; the answer is an arithmetic
# formula that uses each card's value once and equals 24. What a face card is worth is
# written in the prompt: J, Q and K count as 10 in training (the *ID* rule) and as 11, 12
# and 13 at test time (the *OOD* rule). This chapter counts every hand exactly, shows what
# the rule changes, and grades right, wrong and hostile answers with the project's
# verifier. Everything below is computed by `sftrl.task.game` (an exact rational solver) and
# `sftrl.task.verifier`; nothing here is trained.

# %%
from matplotlib_inline.backend_inline import set_matplotlib_formats
from myst_nb import glue

from sftrl.book.plots import task as task_plots
from sftrl.book.plots import use_style

# %% tags=["parameters"]
profile: str = "cpu"  # "smoke", "chat-smoke", "cpu", "gpu" (same counts in each)
seed: int = 42  # draws the example hands
n_examples: int = 4  # example hands shown under both rules

# %%
use_style()
set_matplotlib_formats("png")  # figures as images (sftrl.book.plots uses Agg)
groups = task_plots.hand_groups()  # every hand, solved exactly
blind = task_plots.rule_blind_outcomes()  # face cards read as 10
numbers = task_plots.summary(groups, blind)

# %% [markdown]
# ## The rules
#
# A hand is four cards drawn from {glue:text}`n_ranks` ranks: A counts 1,
# 2 to 10 count their face value, and the {glue:text}`n_faces` face cards count what the
# rule says. A formula may use `+ - * /` and parentheses, each card's value exactly once,
# and must equal 24 exactly (fractions allowed on the way: `8 / ( 3 - 8 / 3 )` solves
# 3 3 8 8). Fine-tuning (SFT and RL) uses the ID rule only; the OOD rule appears only in
# evaluation, stated in the prompt exactly as the ID rule is.

# %%
task_plots.rules_table()

# %% [markdown]
# ## Example hands under both rules
#
# The same four cards are a different problem under each rule. Each row is a face-card hand
# drawn (seed {glue:text}`seed`) among the hands solvable under both rules, with the number
# of distinct solutions and the shortest one. Distinct means distinct formula strings:
# `4 * 6` and `6 * 4` count twice, two bracketings that print the same string once.

# %%
task_plots.example_table(task_plots.example_hands(n_examples, seed=seed))

# %% [markdown]
# ## How many hands are solvable
#
# There are {glue:text}`n_hands:,d` distinct hands (multisets of four ranks). Under the ID
# rule the solver only sees {glue:text}`n_id_value_sets:,d` distinct value multisets, of
# which {glue:text}`n_id_value_sets_solvable:,d` are solvable; under the OOD rule every hand
# is its own value multiset, and {glue:text}`n_ood_value_sets_solvable:,d` of
# {glue:text}`n_ood_value_sets:,d` are solvable. Of all hands, {glue:text}`n_id_solvable:,d`
# ({glue:text}`pct_id_solvable:.0f`%) are solvable under the ID rule: that is the pool the
# training and ID evaluation hands come from. Of the {glue:text}`n_face_hands:,d` hands that
# hold a face card, {glue:text}`n_face_id_solvable:,d` are solvable under ID and
# {glue:text}`n_face_ood_solvable:,d` under OOD; the latter are the OOD evaluation set.

# %%
fig, ax = task_plots.plot_solvable(groups)
fig

# %% [markdown]
# ## Solution counts
#
# Most solvable hands have many solutions (median {glue:text}`median_solutions_id:g` under
# ID, {glue:text}`median_solutions_ood:g` for the OOD hands; at most
# {glue:text}`max_solutions_id:,d` and {glue:text}`max_solutions_ood:,d`), so an answer is
# rarely a single memorisable string; {glue:text}`n_one_solution_ood:,d` OOD hands have
# exactly one. The two distributions are close: the OOD hands are not harder to solve in
# this sense, only different.

# %%
fig, ax = task_plots.plot_solution_counts(groups)
fig

# %% [markdown]
# ## Why OOD hands test rule-reading
#
# Every OOD hand holds a face card, so the rule changes at least one of its values, and no
# value multiset with an 11, 12 or 13 ever occurs in training. Whether a hand is solvable
# at all changes too: {glue:text}`n_face_id_only:,d` face-card hands are solvable only
# under ID and {glue:text}`n_face_ood_only:,d` only under OOD (table). A *rule-blind*
# player that reads every face card as 10 and answers with a correct ID formula gets
# {glue:text}`n_blind_correct:,d` of the {glue:text}`n_face_ood_solvable:,d` OOD hands right
# ({glue:text}`pct_blind_correct:.0f`%): the verifier returns *wrong numbers* on
# {glue:text}`n_blind_wrong_numbers:,d` and the player has no answer at all for
# {glue:text}`n_blind_no_answer:,d`. OOD accuracy therefore measures whether the model reads
# the rule in the prompt and applies it, not how well it recalls training answers.

# %%
task_plots.flip_table()

# %% [markdown]
# ## The verifier at work
#
# Model text is never run as Python. The verifier tokenises the answer itself (ASCII digits,
# `+ - * /`, parentheses, spaces; anything else is an *illegal character*, named in the
# message), parses it with bounded length and nesting, checks that the numbers are exactly
# the cards' values, and evaluates in exact fractions. The original GeneralPoints check
# evaluated with floats, where `8/(3-8/3)` comes out as {glue:text}`float_value_8338`
# rather than 24, so a correct answer was rejected. The table grades answers for the hand
# 3 3 8 8 under the ID rule, with the shaped reward of {cite}`chu2025sftmemorizes`
# (+5 / -1 / -2 / -3) and the 1/0 reward.

# %%
task_plots.verifier_table("3 3 8 8")

# %%
for name, value in numbers.items():
    glue(name, value, display=False)
glue("seed", seed, display=False)
glue("float_value_8338", task_plots.float_value("8/(3-8/3)"), display=False)
