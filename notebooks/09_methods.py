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
# # Methods
#
# What this book trains and how it evaluates, beside what paper A {cite}`jin2025heals`
# did, with every deviation stated. Every setting on this page is read from the
# configuration of the {glue:text}`profile` profile (`sftrl.config`) or measured from the
# model itself; none is typed.

# %%
from typing import Optional

from sftrl import config
from sftrl.claims import papers, seeds, study_log
from sftrl.book import methods, pages

# %% tags=["parameters"]
profile: str = "cpu"  # run size described: "smoke", "chat-smoke", "cpu", "gpu"
model_base: Optional[str] = None  # base model: HF id or folder (None: the profile's)

# %%
cfg = config.profile(profile, model_base=model_base)
# loads the model SFT starts from (pretrains the small base if it is missing)
base = methods.base_facts(cfg)
splits = methods.split_sizes(cfg)
sizes = methods.eval_sizes(cfg)
trl_defaults = methods.trl_defaults()
# the study log; the book's own row from this build's runs
entries = methods.tried_entries(cfg=cfg)
tried = methods.tried_table(cfg=cfg)
by_seed = methods.seeds_table(entries)

# %% [markdown]
# ## The small model
#
# {glue:text}`model_intro` with {glue:text}`n_layers` blocks of width
# {glue:text}`hidden_size`, {glue:text}`n_heads` attention heads, an MLP of width
# {glue:text}`intermediate_size` and a context of {glue:text}`max_positions` tokens;
# {glue:text}`n_params:,` parameters in all, with {glue:text}`tied_text` input and output
# embeddings. {glue:text}`vocab_sentence` The small model's compact format carries the
# same fields as the papers' JSON answer {cite}`chu2025sftmemorizes`, without the
# punctuation; for example, a prompt under the OOD rule and its strict answer:

# %%
print(methods.compact_example())

# %% [markdown]
# ## The pretraining corpus, and why it mixes rules
#
# The papers' models already read the face-card rule from a prompt before any
# fine-tuning: what SFT on the ID rule does to that ability is the subject of Figure 1. A
# base pretrained only on the ID rule would have no such ability to lose, so this base
# is pretrained on {glue:text}`corpus_size:,` generated examples whose prompts state one
# of three rules: the ID map (J, Q, K = 10; {glue:text}`mix_id:.0%` of the examples), the
# OOD map (J, Q, K = 11, 12, 13; {glue:text}`mix_ood:.0%`), or a random map of J, Q and K to
# 1..13 ({glue:text}`mix_random:.0%`). {glue:text}`face_fraction:.0%` of the random-map
# hands hold a face card, where the rule matters. Under the OOD map it sees only the
# {glue:text}`n_ood_pretrain` OOD hands set aside for pretraining, so none of the
# {glue:text}`n_ood_eval_all` OOD evaluation hands is ever seen with its OOD answer. Answers
# are in the strict format (the fields above) in {glue:text}`strict_fraction:.0%` of the
# examples, independently of the rule, and in a loose format (the numbers and the formula
# only) otherwise, so that learning the strict format in SFT is not the same as learning
# the ID rule.
#
# The papers' models are chat LLMs that can also read a reply and correct themselves, and
# the papers' protocol relies on it: a wrong answer is answered with the verifier's reason
# and another attempt. A base trained on single answers would never have seen such a
# reply. So {glue:text}`revision_fraction:.0%` of the examples are *revision transcripts*:
# one to {glue:text}`max_wrong` wrong attempts, each of a random kind (a misread value,
# most often a face card read as 10 when the rule says otherwise; the right numbers in a
# formula that misses 24; a card letter written into the formula; an answer that stops
# before its formula), each followed by the verifier's turn exactly as evaluation writes
# it, then the correct answer. The loss falls on the correct answer only, so the base
# learns to revise, not to make mistakes. For example:

# %%
print(methods.revision_example())

# %% [markdown]
# Pretraining ran {glue:text}`pretrain_steps:,` steps of
# {glue:text}`pretrain_batch` sequences at peak learning rate {glue:text}`pretrain_lr`;
# {glue:text}`pretrain_time_sentence`

# %% [markdown]
# ## Fine-tuning and evaluation, beside paper A
#
# Our settings come from the configuration; paper A's from the numbers this book records
# for it (`sftrl.claims.papers`). SFT trains on ID-rule hands only, in the strict format, with the
# loss on the answer tokens; RL prompts come from ID-rule hands whose value multisets SFT
# never saw.

# %%
methods.settings_table(cfg)

# %% [markdown]
# ## Deviations from paper A
#
# - **PPO becomes GRPO.** Paper A trains RL with PPO, a value head and no KL term. trl
#   {glue:text}`trl_version`, the trainer library used here, no longer offers PPO (it was
#   removed in trl 1.13); its GRPO trainer with KL coefficient {glue:text}`rl_beta` is the
#   closest on-policy method: the mean reward of a group of {glue:text}`rl_generations`
#   samples of the same prompt replaces the value head as the baseline, and there is no
#   reference model.
# - **The papers' protocol, in a small vocabulary.** Paper A counts a hand as solved
#   within {glue:text}`paper_attempts` attempts, each wrong one answered with the
#   verifier's message ("You failed this trial because ..."). Here: {glue:text}`protocol_text`.
#   The compact format states the verifier's reason as one word for its category
#   (`fail numbers`, `fail value`, `fail illegal`, `fail malformed`), where paper A's
#   message also names the numbers; the chat format keeps the full sentence.
# - **One scalar per RL episode.** Paper A's PPO rewards every turn (+5 correct, -1 wrong
#   value, -2 wrong numbers, -3 illegal) and spreads the returns over the turns with GAE
#   (γ 0.9, λ 0.95) and a value head. GRPO gives an episode one scalar: here
#   {glue:text}`rl_reward_text`. The verifier's turns are in the episode's context but not
#   in the loss (trl's `env_mask`); a wrong attempt's end-of-sequence token is dropped,
#   so the verifier's turn follows the attempt as it does in evaluation.
# - **Evaluation set sizes.** Paper A evaluates {glue:text}`paper_hands` hands per rule:
#   the 95% interval around an accuracy of 20% then spans ±{glue:text}`paper_half_width:.1%`.
#   This book evaluates {glue:text}`n_id_eval` ID and {glue:text}`n_ood_eval` OOD hands, for
#   ±{glue:text}`id_half_width:.1%` and ±{glue:text}`ood_half_width:.1%`, and every accuracy
#   carries its Wilson interval.
# - **ID measured two ways.** Paper A draws its ID test hands from the generator of its
#   SFT data, and the ID rule's value space has only 566 solvable multisets, so its ID
#   test hands overlap its SFT hands. This book's ID accuracy, on which "ID keeps rising"
#   is judged, is measured the same way, on {glue:text}`n_id_eval` hands drawn from the
#   {glue:text}`n_sft_hands` SFT hands. Beside it, a stricter test: {glue:text}`n_id_heldout`
#   ID hands whose multisets of values no training hand shares, so that they measure
#   generalisation to unseen arithmetic rather than memory of the training answers. RL
#   prompts come from {glue:text}`n_rl_hands` hands of other multisets again.
# - **A smaller RL step.** An episode of the papers' protocol costs up to five answers,
#   where a single-turn RL rollout costs one, so each RL step here plays
#   {glue:text}`rl_prompts` prompts × {glue:text}`rl_generations` episodes, half the prompts
#   per step of this book's single-turn versions, to keep Figure 1's RL runs within reach of
#   a 2-core machine (`bench/results/protocol.json` records the cost of one step).
# - **A model of another scale.** The learning rates, step counts and RL temperature differ
#   from paper A's (see the table): they are set for a model of this size and for the
#   profile's compute budget.

# %% [markdown]
# ## Configurations tried
#
# {glue:text}`tried_sentence` Each configuration is a set of overrides of the cpu profile
# declared in `sftrl.claims.study_log`; `make study` runs them through the same cached pipeline as
# the book and rewrites the log. The default ran {glue:text}`rl_seeds` seeds from each
# start, because the changes RL makes to OOD accuracy here are a few points, the size of
# the spread between runs; the variants under the papers' protocol ran the number of seeds
# their row states (one, to fit them in a 2-core machine's day), so a variant's change
# smaller than the default's spread between seeds is not a finding. The row named
# *default* is the configuration this book ships; its description says why it was kept.

# %%
tried

# %% [markdown]
# {glue:text}`tried_verdicts_sentence` {doc}`Figure 1's chapter <01_ood_peak_and_decline>`
# shows the default's window in full.
#
# ## The default configuration across SFT seeds
#
# A verdict that rests on one SFT run may not survive a reseed. `make study` runs the
# default configuration under {glue:text}`n_sft_seeds` SFT seeds (seed 0 is this book's
# run; a seed changes the order of the SFT examples), each with the RL seeds above, and
# records every quantity the verdicts of Figures 1, 4 and 5 use. {glue:text}`seeds_sentence`

# %%
by_seed

# %%
p = cfg.pretrain
paper_hands = papers.get("task.eval_hands").value
pages.glue_all({
    "profile": cfg.profile,
    "n_params": base["n_params"],
    "hidden_size": base["hidden_size"],
    "n_layers": base["num_hidden_layers"],
    "n_heads": base["num_attention_heads"],
    "intermediate_size": base["intermediate_size"],
    "max_positions": base["max_position_embeddings"],
    "vocab_size": base["vocab_size"],
    "tied_text": "tied" if base["tie_word_embeddings"] else "separate (untied)",
    **methods.model_sentences(base),
    "corpus_size": p.corpus_size,
    "mix_id": p.rule_mix[0],
    "mix_ood": p.rule_mix[1],
    "mix_random": p.rule_mix[2],
    "face_fraction": p.face_fraction,
    "strict_fraction": p.strict_fraction,
    "revision_fraction": p.revision_fraction,
    "max_wrong": p.max_wrong,
    "protocol_text": cfg.eval.describe(),
    "rl_reward_text": methods.rl_reward_text(cfg),
    "pretrain_steps": p.steps,
    "pretrain_batch": p.batch_size,
    "pretrain_lr": p.lr,
    "pretrain_seconds": base["pretrain_seconds"],
    "pretrain_time_sentence": methods.pretrain_sentence(base),
    "n_ood_pretrain": splits["ood_pretrain"],
    "n_ood_eval_all": splits["ood_eval"],
    "n_sft_hands": splits["sft"],
    "n_rl_hands": splits["rl"],
    "n_id_eval": sizes["id"],
    "n_id_heldout": sizes["id_heldout"],
    "n_ood_eval": sizes["ood"],
    "id_half_width": methods.half_width_at(sizes["id"]),
    "ood_half_width": methods.half_width_at(sizes["ood"]),
    "paper_hands": paper_hands,
    "paper_half_width": methods.half_width_at(paper_hands),
    "paper_attempts": papers.get("task.eval_attempts").value,
    "trl_version": trl_defaults["trl_version"],
    "rl_beta": cfg.rl.beta,
    "rl_generations": cfg.rl.num_generations,
    "rl_prompts": cfg.rl.prompts_per_step,
    "tried_sentence": methods.tried_sentence(tried),
    "rl_seeds": cfg.rl_seeds,
    "tried_verdicts_sentence": methods.tried_verdicts_sentence(cfg=cfg),
    "n_sft_seeds": study_log.SFT_SEEDS,
    "seeds_sentence": seeds.seeds_sentence(cfg),
})
