"""Run configurations and the four profiles: ``smoke``, ``chat-smoke``, ``cpu`` and ``gpu``.

Every training run is described completely by one of the dataclasses below; the run's
identity (its folder under ``data/runs/``) is a hash of that description, so asking for the
same configuration twice returns the same run. A notebook picks a profile and may override
any field by name (papermill parameters), e.g.::

    cfg = config.profile("cpu", sft_lr=3e-4, rl_steps=200)

Profiles
--------
``smoke``
    A tiny model pretrained in seconds; used by the tests and the smoke build of the book.
``chat-smoke``
    The smoke budget on the chat path: the project's tiny Qwen2-style chat model (built
    locally, loaded as a hub model is), the papers' JSON answer through its chat template.
``cpu``
    The default of ``make book``: the committed small base (``data/base``), SFT and RL
    sized to finish on a 2-core CPU.
``gpu``
    Paper-like settings for any Hugging Face causal LM (local path or hub id), chat
    template, bf16; e.g. ``Qwen/Qwen2.5-0.5B-Instruct``.

Usage: ``from sftrl import config; cfg = config.profile("cpu", sft_steps=600)``
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from sftrl.errors import SftrlError

#: the most attempts an episode may have (the papers' protocol uses 5; arXiv 2508.16546)
MAX_ATTEMPTS = 10
#: how the verifier answers a wrong attempt: with its reason (the papers), or with no reason
FEEDBACK_MODES = ("verifier", "bare")
#: an RL episode's reward: the sum of paper C's shaped turn rewards, or 1/0 for success
REWARD_MODES = ("shaped", "binary")
#: ``model_base`` of the project's tiny Qwen2-style chat model (a Hugging Face folder built on
#: first use by :mod:`sftrl.training.tiny_chat`): the chat path end to end without a hub
TINY_CHAT_BASE = "tiny-chat"


# --------------------------------------------------------------------------- validation
# Every setting's allowed values, by its flat name (the name profile(), ``--set`` and the
# notebooks' parameters use). A configuration is checked when it is made: each section when
# it is constructed, the whole StudyConfig (with the checks that span sections) after that,
# so no stage ever starts on a bad value.


@dataclass(frozen=True)
class Range:
    """The allowed values of a number: ``lo <= x <= hi`` (``<`` where the bound is open)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def admits(self, x: object) -> bool:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or (self.integer and not isinstance(x, int)):
            return False
        if not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.lo is not None and self.hi is not None:
            return f"{kind} in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{kind} {'>' if self.lo_open else '>='} {self.lo:g}"
        return kind


#: the shapes of setting the table below uses
COUNT = Range(1, integer=True)        # a positive count: steps, sizes, attempts' budgets
NATURAL = Range(0, integer=True)      # a count that may be 0, a seed
POSITIVE = Range(0, lo_open=True)     # a learning rate, a temperature
NONNEGATIVE = Range(0)
PROBABILITY = Range(0, 1)             # a share of examples, [0, 1]
FRACTION = Range(0, 1, lo_open=True)  # a fraction that must select something, (0, 1]
ATTEMPTS = Range(1, MAX_ATTEMPTS, integer=True)  # an episode's attempts (the papers: 5)
DTYPES = ("float32", "bfloat16")
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")

#: one setting's allowed values: a Range (for a tuple: of every item), a tuple of choices
#: (for a tuple: of every item), or a regular expression the whole value must match
Rule = Range | tuple[str, ...] | re.Pattern[str]


#: flat setting name -> its allowed values
RULES: dict[str, Rule] = {
    "model_base": re.compile(r"\S.*"),
    "model_hidden_size": COUNT, "model_intermediate_size": COUNT, "model_num_hidden_layers": COUNT,
    "model_num_attention_heads": COUNT, "model_answer_format": ("compact", "chat"), "model_dtype": DTYPES,
    "model_context": Range(16, integer=True),
    "pretrain_steps": COUNT, "pretrain_batch_size": COUNT, "pretrain_lr": POSITIVE, "pretrain_warmup_steps": NATURAL,
    "pretrain_strict_fraction": PROBABILITY, "pretrain_rule_mix": PROBABILITY, "pretrain_face_fraction": PROBABILITY,
    "pretrain_corpus_size": COUNT, "pretrain_revision_fraction": PROBABILITY, "pretrain_max_wrong": COUNT,
    "pretrain_seed": NATURAL,
    "sft_steps": COUNT, "sft_batch_size": COUNT, "sft_lr": POSITIVE, "sft_warmup_steps": NATURAL,
    "sft_targets": ("canonical", "random"), "sft_max_solutions": COUNT, "sft_checkpoints": COUNT, "sft_seed": NATURAL,
    "rl_steps": COUNT, "rl_prompts_per_step": COUNT, "rl_num_generations": Range(2, integer=True), "rl_lr": POSITIVE,
    "rl_beta": NONNEGATIVE, "rl_temperature": POSITIVE, "rl_attempts": ATTEMPTS,
    "rl_reward": REWARD_MODES, "rl_hands": ("rl", "sft"), "rl_max_completion_length": COUNT,
    "rl_checkpoints": COUNT, "rl_seed": NATURAL, "rl_dtype": DTYPES, "rl_hand_subset": ("all", "half0", "half1"),
    "rl_grad_mask": ("none", "off_principal", "principal", "random"), "rl_grad_mask_alpha": FRACTION,
    "rl_grad_mask_rank": FRACTION, "rl_permute_seed": Range(-1, integer=True),
    "rl_rotate_seed": Range(-1, integer=True),
    "eval_max_hands": NATURAL, "eval_attempts": ATTEMPTS, "eval_feedback": FEEDBACK_MODES,
    "eval_batch_size": COUNT, "eval_max_new_tokens": COUNT, "eval_temperature": NONNEGATIVE,
    "eval_require_strict": ("True", "False"), "eval_seed": NATURAL,
    "split_seed": NATURAL, "rl_from_steps": NATURAL, "rl_seeds": COUNT, "rl_main_from": Range(-1, integer=True),
    "threads": COUNT, "device": DEVICE, "gradient_checkpointing": ("True", "False"),
}

#: the figure pages' analysis settings (their notebooks' parameters, checked by
#: ``python -m sftrl.book run`` before a kernel starts, and by the library functions that
#: take them): name -> allowed values, as in :data:`RULES`
ANALYSIS_RULES: dict[str, Rule] = {
    "k_frac": FRACTION, "layer_k_frac": FRACTION, "probe_rank": FRACTION,
    "probe_alpha": Range(0, 0.5, lo_open=True),  # off-principal and principal masks side by side
    "alpha": Range(0, 1, lo_open=True, hi_open=True), "eta": NONNEGATIVE, "layer": Range(-1, integer=True),
    "start_step": Range(-1, integer=True), "study_steps": COUNT, "probe_steps": COUNT, "study_lr": POSITIVE,
    "probe_lr": POSITIVE, "study_dtype": DTYPES, "permute_seed": NATURAL, "rotate_seed": NATURAL,
    "layer_op": ("swap", "restore"),
    "fractions": PROBABILITY, "tail_fractions": FRACTION, "swap_fractions": FRACTION,
    "length_from": ("log", "run"),  # the length study: make study's committed snapshot, or runs now
}


def check_value(name: str, value: object, rule: Rule) -> None:
    """SftrlError naming the setting ``name``, its value and what is allowed, unless
    ``value`` is allowed by ``rule``: the one check every setting goes through."""
    items = value if isinstance(value, tuple) else (value,)
    each = "every item must be" if isinstance(value, tuple) else "must be"
    if isinstance(rule, Range):
        if not all(rule.admits(v) for v in items):
            raise SftrlError(f"{name}={value!r}: {each} {rule}")
    elif isinstance(rule, tuple):
        if not all(str(v) in rule for v in items):
            raise SftrlError(f"{name}={value!r} is not allowed; choose one of {', '.join(rule)}")
    elif not isinstance(value, str) or not rule.fullmatch(value):
        raise SftrlError(f"{name}={value!r} is not allowed (it must match {rule.pattern!r})")


def check_setting(name: str, value: object) -> None:
    """:func:`check_value` by the rule :data:`RULES` or :data:`ANALYSIS_RULES` holds for
    ``name`` (a name neither table holds is unchecked)."""
    rule = RULES.get(name, ANALYSIS_RULES.get(name))
    if rule is not None:
        check_value(name, value, rule)


def check_kept(name: str, steps: tuple[int, ...] | list[int], sft_steps: int,
               checkpoints: tuple[int, ...], minus_one: str = "") -> list[int]:
    """``steps`` as ints, at least one, each a step SFT keeps a model at
    (:func:`kept_steps`); where ``minus_one`` says what -1 means, -1 is allowed too.
    SftrlError naming the setting ``name``, its value and the kept steps."""
    kept = kept_steps(sft_steps, checkpoints)
    steps = [int(s) for s in steps]
    bad = [s for s in steps if s not in kept and not (minus_one and s == -1)]
    if bad or not steps:
        value = steps[0] if minus_one and len(steps) == 1 else tuple(steps)
        allowed = (f"-1 ({minus_one}) or " if minus_one else "") + "kept SFT steps"
        raise SftrlError(f"{name}={value!r}: must be {allowed}; with sft_steps={sft_steps} those are {kept}"
                         + (f" ({bad} are not)" if bad else ""))
    return steps


#: settings that change how a run is computed, not its results
NOT_RESULTS = ("profile", "threads", "device", "gradient_checkpointing")


def same_results(a: StudyConfig, b: StudyConfig, ignore: tuple[str, ...] = ()) -> bool:
    """Whether two configurations compute the same results: every flat setting equal but
    :data:`NOT_RESULTS` and ``ignore``."""
    fa, fb = flat(a), flat(b)
    return fa.keys() == fb.keys() and all(fa[k] == fb[k] for k in fa if k not in (*NOT_RESULTS, *ignore))


class _Section:
    """A section of a StudyConfig: checked against :data:`RULES` when it is made."""

    prefix: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            check_setting(f"{self.prefix}_{f.name}", getattr(self, f.name))


def kept_steps(steps: int, checkpoints: tuple[int, ...]) -> list[int]:
    """The steps a run keeps a model at: 0 (its start), every configured checkpoint up to
    ``steps``, and ``steps`` itself (checkpoints past the last step are never reached)."""
    return sorted({0, steps, *(c for c in checkpoints if 0 < c <= steps)})



@dataclass(frozen=True)
class ModelSpec(_Section):
    """Which model to start from."""

    prefix: ClassVar[str] = "model"

    base: str = "small"
    """``"small"``: the project's own pretrained base (``data/base`` for the cpu profile,
    or a fresh pretraining run for smoke); ``"tiny-chat"``: the project's tiny Qwen2-style
    chat model (:data:`TINY_CHAT_BASE`); otherwise a local folder or Hugging Face hub id."""
    hidden_size: int = 128
    """Width of the small model (ignored for a Hugging Face base)."""
    intermediate_size: int = 512
    """MLP width of the small model."""
    num_hidden_layers: int = 4
    """Transformer blocks of the small model."""
    num_attention_heads: int = 4
    """Attention heads of the small model."""
    answer_format: str = "compact"
    """``"compact"`` (word-level tokens, the small model) or ``"chat"`` (the papers' JSON
    answer through the tokenizer's chat template)."""
    dtype: str = "float32"
    """Training dtype of the weights: ``"float32"`` or ``"bfloat16"`` (paper B's regime)."""
    context: int = 192
    """Positions of the small model: enough for an episode of ``eval_attempts`` compact
    attempts with the verifier's turns between them (ignored for a Hugging Face base)."""


@dataclass(frozen=True)
class PretrainConfig(_Section):
    """Pretraining of the small base on a mixed-rule GeneralPoints corpus.

    The base stands in for the papers' pretrained LLM, which already reads the face-card
    rule from its prompt: each example states a rule (the ID map, the OOD map, or a random
    map of J, Q, K to 1..13) and answers in the strict or the loose format, chosen
    independently of the rule, so that the strict format is not tied to the ID rule.
    """

    prefix: ClassVar[str] = "pretrain"

    steps: int = 1800
    """Optimizer steps."""
    batch_size: int = 128
    """Sequences per step."""
    lr: float = 1e-3
    """Peak learning rate (AdamW, cosine decay after warm-up)."""
    warmup_steps: int = 100
    """Linear warm-up steps."""
    strict_fraction: float = 0.2
    """Fraction of examples answered in the strict format (the rest loose)."""
    rule_mix: tuple[float, float, float] = (0.2, 0.2, 0.6)
    """Probabilities of the ID map, the OOD map and a random face-card map."""
    face_fraction: float = 0.7
    """Fraction of hands that hold at least one face card (where the rule matters)."""
    corpus_size: int = 100_000
    """Distinct examples generated; training cycles through them."""
    revision_fraction: float = 0.5
    """Fraction of examples that are revision transcripts: wrong attempts, each answered by
    the verifier's turn, then the correct answer (the loss is on the correct answer only)."""
    max_wrong: int = 2
    """Most wrong attempts a revision transcript shows before the correct one (1..max_wrong)."""
    seed: int = 0
    """Seed of the corpus, the initialisation and the data order."""


@dataclass(frozen=True)
class SFTConfig(_Section):
    """Supervised fine-tuning on ID-rule hands only, strict format, loss on the answer."""

    prefix: ClassVar[str] = "sft"

    steps: int = 600
    """Optimizer steps (the study: 1,500 steps at 1e-4 show the same shape in 4x the time)."""
    batch_size: int = 64
    """Sequences per step."""
    lr: float = 3e-4
    """Learning rate (AdamW, constant after warm-up, as a long SFT in the papers)."""
    warmup_steps: int = 10
    """Linear warm-up steps."""
    targets: str = "random"
    """``"canonical"``: one fixed solution per hand; ``"random"``: every distinct solution
    of a hand is a training example (up to ``max_solutions``)."""
    max_solutions: int = 8
    """Cap on solutions per hand when ``targets="random"``."""
    checkpoints: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 300, 400,
                                    500, 600)
    """Steps at which a checkpoint is kept (dense early, sparse later); the last step is
    always kept."""
    seed: int = 0
    """Seed of the data order."""


@dataclass(frozen=True)
class RLConfig(_Section):
    """RL with trl's GRPOTrainer and the verifier as the reward.

    Paper A used PPO with a value head and no KL term; trl removed PPO in 1.13, and GRPO
    with ``beta=0`` is the closest on-policy method it offers (the book states this).
    """

    prefix: ClassVar[str] = "rl"

    steps: int = 50
    """Optimizer steps."""
    prompts_per_step: int = 8
    """Distinct prompts per step; each is sampled ``num_generations`` times. An episode of
    the papers' protocol costs up to five answers: 8 (half the single-turn default of
    earlier versions) keeps Figure 1's 15 RL runs near the book's budget on 2 cores
    (bench/results/protocol.json)."""
    num_generations: int = 8
    """Group size for GRPO's group-normalised advantage."""
    lr: float = 3e-5
    """Learning rate (AdamW). Paper A: 1e-6 on 7-11B models; the study: 1e-4 made RL
    memorise its prompts (held-out ID fell), 1e-5 and 3e-5 gave the same OOD."""
    beta: float = 0.0
    """KL coefficient to the starting model (paper A: none)."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts."""
    attempts: int = 5
    """Attempts per RL episode (1..10): paper A's rollouts are the evaluation's multi-turn
    episodes, each wrong answer answered by the verifier; 1 is single-turn GRPO."""
    reward: str = "shaped"
    """The episode's reward: ``"shaped"`` (paper C's +5/-1/-2/-3 per turn, summed over the
    turns) or ``"binary"`` (1 when solved within the attempts, else 0)."""
    hands: str = "rl"
    """Which ID hands the prompts come from: ``"rl"`` (value multisets unseen in SFT and
    in the ID evaluation) or ``"sft"`` (the SFT training hands)."""
    max_completion_length: int = 32
    """Token budget of one attempt."""
    checkpoints: tuple[int, ...] = (10, 25, 50)
    """Steps at which a checkpoint is kept (the last step always is)."""
    seed: int = 0
    """Seed of the sampling and the data order."""
    dtype: str = "float32"
    """Dtype of the weights during RL: ``"bfloat16"`` stores them in bf16 as the models
    paper B analyses (arXiv 2511.08567), so updates below bf16 resolution round away."""
    hand_subset: str = "all"
    """``"all"`` or one of two disjoint halves of the RL hands, ``"half0"`` / ``"half1"``
    (split by value multiset): runs that differ in their training data."""
    grad_mask: str = "none"
    """Restrict RL to a fixed set of entries of every block matrix (paper B's off-principal
    probe): ``"none"``, ``"off_principal"``, ``"principal"`` or ``"random"``. Embeddings,
    LM head and norms are not restricted, in every variant alike."""
    grad_mask_alpha: float = 0.2
    """Fraction of each matrix's entries a gradient mask lets RL train."""
    grad_mask_rank: float = 0.2
    """Rank of the principal-weight reconstruction, as a fraction of the matrix rank."""
    permute_seed: int = -1
    """If >= 0: permute every block's MLP hidden units (a function-preserving change of
    coordinates) before RL, with this seed (paper B's geometry disruption)."""
    rotate_seed: int = -1
    """If >= 0: rotate every kv head's value space (rows of ``v_proj``, columns of
    ``o_proj``) by a random orthogonal matrix before RL, with this seed: a function-preserving
    change of coordinates that, unlike a permutation, mixes entries, and to which Adam is not
    equivariant (paper B's geometry disruption)."""


@dataclass(frozen=True)
class EvalConfig(_Section):
    """How hands are evaluated: the pipeline's checkpoints and any model given to
    :func:`sftrl.evaluation.evaluate.evaluate_hands` (the one evaluation configuration)."""

    prefix: ClassVar[str] = "eval"

    max_hands: int = 0
    """Cap on hands per held-out set (0 = all of them; an even spread when capped)."""
    attempts: int = 5
    """Attempts per hand (1..10); the papers use 5, each wrong attempt answered by the verifier."""
    feedback: str = "verifier"
    """What a wrong attempt is answered with: ``"verifier"`` (its reason, the papers) or
    ``"bare"`` (a retry cue without the reason, an ablation)."""
    batch_size: int = 512
    """Prompts per generate() call (sorted by length, so padding is minimal)."""
    max_new_tokens: int = 32
    """Token budget of one answer; a compact strict answer is about 20 tokens."""
    temperature: float = 0.0
    """0 = greedy decoding; > 0 samples at this temperature (no top-k/top-p truncation)."""
    require_strict: bool = True
    """Grade the loose compact answer (no ``cards`` part) as a format error."""
    seed: int = 0
    """Sampling seed (attempt i uses seed + i); unused when greedy."""

    def describe(self) -> str:
        """The protocol in words, e.g. ``"up to 5 attempts per hand, greedy decoding, each
        wrong attempt answered with the verifier's reason"``."""
        decoding = "greedy decoding" if self.temperature == 0 else f"sampling at temperature {self.temperature:g}"
        if self.attempts == 1:
            return f"one attempt per hand, {decoding}"
        reply = "the verifier's reason" if self.feedback == "verifier" else "a retry cue without the reason"
        return f"up to {self.attempts} attempts per hand, {decoding}, each wrong attempt answered with {reply}"


@dataclass(frozen=True)
class StudyConfig:
    """Everything a figure needs: one profile's full configuration."""

    profile: str
    """The profile these settings came from."""
    model: ModelSpec = field(default_factory=ModelSpec)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    split_seed: int = 42
    """Seed of the held-out hand split (paper A evaluates 234 hands drawn with seed 42)."""
    rl_from_steps: tuple[int, ...] = (20, 50, 100, 300, 600)
    """SFT checkpoints RL starts from in Figure 1's recovery window (each must be kept)."""
    rl_seeds: int = 3
    """RL runs per start in the recovery window, with seeds ``rl.seed``, ``rl.seed + 1``, ...
    (the window's OOD changes are a few points, so one seed cannot decide them)."""
    rl_main_from: int = -1
    """The SFT step of the RL model Figures 2-6 analyse (-1 = the end of SFT, as paper A)."""
    threads: int = 2
    """torch threads per process (never more than the machine's cores)."""
    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass instead of keeping them
    (trl's default): it saves memory at paper scale and costs a forward pass per step
    (bench/results/protocol.json); the trained weights are the same. The gpu profile turns
    it on."""
    device: str = "auto"
    """``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``."""

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def main_rl_step(self) -> int:
        """The SFT step the book's main RL model starts from (``rl_main_from``; -1 = the end of SFT)."""
        return self.sft.steps if self.rl_main_from < 0 else self.rl_main_from


def validate(cfg: StudyConfig) -> None:
    """The one validation step of a configuration, run when it is made: every setting
    against :data:`RULES`, then the checks that span sections. SftrlError names the first
    bad setting, its value and what is allowed, before any model is loaded."""
    for name, value in flat(cfg).items():
        check_setting(name, value)
    m, p = cfg.model, cfg.pretrain
    if m.hidden_size % m.num_attention_heads:
        raise SftrlError(f"model_hidden_size={m.hidden_size} must be a multiple of "
                         f"model_num_attention_heads={m.num_attention_heads}")
    if len(p.rule_mix) != 3 or not sum(p.rule_mix) > 0:
        raise SftrlError(f"pretrain_rule_mix={p.rule_mix!r}: three probabilities (ID map, OOD map, random map) "
                         "with a positive sum")
    check_kept("rl_from_steps", cfg.rl_from_steps, cfg.sft.steps, cfg.sft.checkpoints)
    check_kept("rl_main_from", [cfg.rl_main_from], cfg.sft.steps, cfg.sft.checkpoints, minus_one="the end of SFT")


def _smoke() -> StudyConfig:
    return StudyConfig(
        profile="smoke",
        model=ModelSpec(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
        # just enough pretraining that SFT teaches the strict format to most ID hands within 30
        # steps, so RL sees rewards that differ within a group (seconds, not minutes)
        pretrain=PretrainConfig(steps=150, batch_size=64, lr=3e-3, warmup_steps=10, corpus_size=4_000),
        sft=SFTConfig(steps=30, batch_size=16, lr=1e-3, checkpoints=(10, 20, 30)),
        rl=RLConfig(steps=4, prompts_per_step=4, num_generations=4, lr=1e-4, checkpoints=(2, 4),
                    max_completion_length=24),
        eval=EvalConfig(max_hands=24, max_new_tokens=24),
        rl_from_steps=(10, 20, 30),
        rl_seeds=1,
        threads=1,
    )


def _cpu() -> StudyConfig:
    return StudyConfig(profile="cpu")


def _gpu() -> StudyConfig:
    return StudyConfig(
        profile="gpu",
        model=ModelSpec(base="Qwen/Qwen2.5-0.5B-Instruct", answer_format="chat", dtype="bfloat16"),
        sft=SFTConfig(steps=800, batch_size=64, lr=1e-5, warmup_steps=20,
                      checkpoints=(20, 40, 60, 80, 100, 120, 140, 160, 200, 300, 400, 500, 600, 800)),
        rl=RLConfig(steps=200, prompts_per_step=32, num_generations=8, lr=1e-6,
                    temperature=1.0, max_completion_length=128, checkpoints=(50, 100, 200)),
        eval=EvalConfig(batch_size=64, max_new_tokens=128),
        rl_from_steps=(40, 100, 200, 400, 800),
        threads=8,
        gradient_checkpointing=True,
    )


def _chat_smoke() -> StudyConfig:
    # the smoke budget on the chat path: the tiny Qwen2-style model through its chat template and
    # the papers' JSON answer (45-57 tokens); SFT long and fast enough that sampled answers are
    # sometimes well-formed, rollouts cool enough that a group's rewards differ (GRPO's gradient)
    smoke = _smoke()
    return replace(smoke, profile="chat-smoke",
                   model=ModelSpec(base=TINY_CHAT_BASE, answer_format="chat"),
                   sft=replace(smoke.sft, steps=60, lr=1e-2, checkpoints=(20, 40, 60)),
                   rl=replace(smoke.rl, temperature=0.5, max_completion_length=64),
                   eval=replace(smoke.eval, max_hands=16, max_new_tokens=64, batch_size=64),
                   rl_from_steps=(20, 40, 60))


PROFILES = {"smoke": _smoke, "chat-smoke": _chat_smoke, "cpu": _cpu, "gpu": _gpu}

#: the gpu profile's settings that do nothing on a CPU, and why (the Reproduce page lists them)
GPU_ONLY: dict[str, str] = {
    "bf16 mixed precision": "the trainers' bf16 autocast (TrainingArguments.bf16) is switched on only on a CUDA "
                            "device, since trl on a CPU needs bf16=False; the weights still load in model_dtype",
    "device = auto": "picks CUDA where there is one; on a CPU it is the CPU, as device = cpu",
    "gradient checkpointing": "no profile switches it on: the models that train on a CPU hold their activations "
                              "easily; at 7B scale, an FSDP launch turns it on from its accelerate config file "
                              "(fsdp_activation_checkpointing)",
    "device map": "never used: a launch places one copy of the model on each process's device (accelerate), "
                  "and the analyses stream one tensor at a time, so no model is split across devices by hand",
}

#: flat override names -> (section, field); e.g. ``sft_lr`` -> ``cfg.sft.lr``
_SECTIONS = ("model", "pretrain", "sft", "rl", "eval")


def override_names() -> list[str]:
    """Every flat name :func:`profile` accepts, e.g. ``sft_lr`` or ``model_base``."""
    names = [f.name for f in fields(StudyConfig) if f.name not in (*_SECTIONS, "profile")]
    for section in _SECTIONS:
        cls = {f.name: f for f in fields(StudyConfig)}[section].default_factory  # type: ignore[misc]
        names += [f"{section}_{f.name}" for f in fields(cls)]
    return names


def flat(cfg: StudyConfig) -> dict[str, Any]:
    """The configuration as flat ``section_field`` names, the names :func:`profile`, ``--set``
    and papermill take (``profile`` included): ``profile(cfg.profile, **rest)`` rebuilds it."""
    out: dict[str, Any] = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            for k, v in dataclasses.asdict(value).items():
                out[f"{f.name}_{k}"] = tuple(v) if isinstance(v, list) else v
        else:
            out[f.name] = value
    return out


def profile(name: str, **overrides: Any) -> StudyConfig:
    """The named profile with flat overrides applied (``None`` means: keep the profile's
    value, the one convention for "the profile's value" in the whole project).

    Unknown profile or field names raise :class:`SftrlError` naming them.
    """
    if name not in PROFILES:
        raise SftrlError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    cfg = PROFILES[name]()
    valid = set(override_names())
    unknown = sorted(k for k in overrides if k not in valid)
    if unknown:
        raise SftrlError(f"unknown setting(s) {unknown}; valid names: {sorted(valid)}")
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    for key, value in overrides.items():
        if value is None:
            continue
        section = next((s for s in _SECTIONS if key.startswith(s + "_") and key in valid
                        and key[len(s) + 1:] in {f.name for f in fields(getattr(cfg, s))}), None)
        if section is None:
            top[key] = _coerce(key, value, getattr(cfg, key))
            continue
        fname = key[len(section) + 1:]
        current = getattr(getattr(cfg, section), fname)
        nested[section][fname] = _coerce(key, value, current)
    for section, values in nested.items():
        if values:
            top[section] = replace(getattr(cfg, section), **values)
    return replace(cfg, **top)


#: the words a yes/no setting accepts from papermill or the command line
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _coerce(key: str, value: Any, current: Any) -> Any:
    """Cast a papermill/CLI value to the type of the field it overrides."""
    try:
        if isinstance(current, bool):
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word not in _BOOLS:
                raise ValueError(word)
            return _BOOLS[word]
        if isinstance(current, tuple):
            items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
            kind = type(current[0]) if current else float
            return tuple(kind(v) for v in items)
        return type(current)(value)
    except (TypeError, ValueError) as exc:
        raise SftrlError(f"setting {key}={value!r} is not a valid {type(current).__name__}") from exc
