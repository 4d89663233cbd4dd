"""Run configurations and the three profiles: ``smoke``, ``cpu`` and ``gpu``.

Every training run is described completely by one of the dataclasses below; the run's
identity (its folder under ``data/runs/``) is a hash of that description, so asking for the
same configuration twice returns the same run. A notebook picks a profile and may override
any field by name (papermill parameters), e.g.::

    cfg = config.profile("cpu", sft_lr=3e-4, rl_steps=200)

Profiles
--------
``smoke``
    A tiny model pretrained in seconds; used by the tests and the smoke build of the book.
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
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sftrl.errors import SftrlError

#: Bumped whenever the meaning of a training run changes (data, loss, trainer settings),
#: so cached runs made by older code are not mistaken for new ones.
PIPELINE_VERSION = 2

#: the most attempts an episode may have (the papers' protocol uses 5; arXiv 2508.16546)
MAX_ATTEMPTS = 10
#: how the verifier answers a wrong attempt: with its reason (the papers), or with no reason
FEEDBACK_MODES = ("verifier", "bare")
#: an RL episode's reward: the sum of paper C's shaped turn rewards, or 1/0 for success
REWARD_MODES = ("shaped", "binary")


def check_attempts(value: object, name: str) -> int:
    """``value`` as an int in 1..MAX_ATTEMPTS, or SftrlError naming the setting ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        raise SftrlError(f"{name}={value!r}: an episode has 1 to {MAX_ATTEMPTS} attempts (the papers use 5)")
    return value


def check_choice(value: object, choices: tuple[str, ...], name: str) -> None:
    """SftrlError naming the setting ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise SftrlError(f"{name}={value!r} is not allowed; choose one of {', '.join(choices)}")


@dataclass(frozen=True)
class ModelSpec:
    """Which model to start from."""

    base: str = "small"
    """``"small"``: the project's own pretrained base (``data/base`` for the cpu profile,
    or a fresh pretraining run for smoke); otherwise a local path or Hugging Face hub id."""
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
class PretrainConfig:
    """Pretraining of the small base on a mixed-rule GeneralPoints corpus.

    The base stands in for the papers' pretrained LLM, which already reads the face-card
    rule from its prompt: each example states a rule (the ID map, the OOD map, or a random
    map of J, Q, K to 1..13) and answers in the strict or the loose format, chosen
    independently of the rule, so that the strict format is not tied to the ID rule.
    """

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
class SFTConfig:
    """Supervised fine-tuning on ID-rule hands only, strict format, loss on the answer."""

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
class RLConfig:
    """RL with trl's GRPOTrainer and the verifier as the reward.

    Paper A used PPO with a value head and no KL term; trl removed PPO in 1.13, and GRPO
    with ``beta=0`` is the closest on-policy method it offers (the book states this).
    """

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

    def __post_init__(self) -> None:
        check_attempts(self.attempts, "rl_attempts")
        check_choice(self.reward, REWARD_MODES, "rl_reward")


@dataclass(frozen=True)
class EvalConfig:
    """How hands are evaluated: the pipeline's checkpoints and any model given to
    :func:`sftrl.evaluation.evaluate.evaluate_hands` (the one evaluation configuration)."""

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

    def __post_init__(self) -> None:
        check_attempts(self.attempts, "eval_attempts")
        check_choice(self.feedback, FEEDBACK_MODES, "eval_feedback")
        for name in ("batch_size", "max_new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SftrlError(f"EvalConfig.{name} must be a positive integer, got {value!r}")
        if isinstance(self.max_hands, bool) or not isinstance(self.max_hands, int) or self.max_hands < 0:
            raise SftrlError(f"EvalConfig.max_hands must be 0 (every hand) or more, got {self.max_hands!r}")
        if not self.temperature >= 0.0:  # also rejects NaN
            raise SftrlError(f"EvalConfig.temperature must be >= 0, got {self.temperature!r}")

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
    device: str = "auto"
    """``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    )


PROFILES = {"smoke": _smoke, "cpu": _cpu, "gpu": _gpu}

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


def _coerce(key: str, value: Any, current: Any) -> Any:
    """Cast a papermill/CLI value to the type of the field it overrides."""
    try:
        if isinstance(current, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        if isinstance(current, tuple):
            items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
            kind = type(current[0]) if current else float
            return tuple(kind(v) for v in items)
        return type(current)(value)
    except (TypeError, ValueError) as exc:
        raise SftrlError(f"setting {key}={value!r} is not a valid {type(current).__name__}") from exc
