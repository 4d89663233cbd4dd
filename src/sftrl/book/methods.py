"""The Methods page: our settings beside paper A's, the small base, the study log.

Usage::

    cfg = config.profile("cpu")
    methods.settings_table(cfg)      # ours against paper A's
    methods.tried_table(cfg=cfg)     # the study log of configurations tried (book/study/tried.json)
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sftrl import config, paths
from sftrl.book.tables import Table, cell, setting_text
from sftrl.claims import papers
from sftrl.claims.registry import paper_value, value_text
from sftrl.claims.rules import half_width
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError


def eval_sizes(cfg: StudyConfig) -> dict[str, int]:
    """Hands per evaluation set (``"id"``, ``"id_heldout"``, ``"ood"``) as the pipeline
    evaluates them (:data:`sftrl.evaluation.checkpoint.EVAL_SETS`, capped at ``eval.max_hands``)."""
    from sftrl.evaluation.checkpoint import EVAL_SETS
    from sftrl.task import corpus

    s = corpus.splits(cfg.split_seed)
    cap = cfg.eval.max_hands
    return {split: (min(cap, len(getattr(s, name))) if cap > 0 else len(getattr(s, name)))
            for split, name, _ in EVAL_SETS}


def split_sizes(cfg: StudyConfig) -> dict[str, int]:
    """Sizes of every hand set of :func:`sftrl.task.corpus.splits` (before any evaluation cap)."""
    from sftrl.task import corpus

    return corpus.splits(cfg.split_seed).sizes()


def half_width_at(n: int, accuracy: float = 0.2) -> float:
    """Half the width of the 95% Wilson interval of ``round(accuracy * n)`` of ``n`` hands."""
    from sftrl.evaluation.evaluate import wilson_interval

    if n < 1:
        raise SftrlError(f"an interval needs at least one hand, got n={n}")
    return half_width(wilson_interval(round(accuracy * n), n))


def trl_defaults() -> dict[str, Any]:
    """The trl / transformers defaults the pipeline leaves as they are, from this installation."""
    import trl

    fields = {f.name: f.default for f in dataclasses.fields(trl.GRPOConfig)}
    return {"trl_version": trl.__version__, "clip_epsilon": fields["epsilon"],
            "max_grad_norm": fields["max_grad_norm"], "loss_type": fields.get("loss_type", "")}


def base_record() -> dict[str, Any] | None:
    """The committed base's record ``data/base/sftrl_base.json`` (config, run, seconds,
    torch), or None when no base is committed."""
    meta = paths.BASE / "sftrl_base.json"
    return json.loads(meta.read_text()) if meta.is_file() else None


def base_facts(cfg: StudyConfig) -> dict[str, Any]:
    """The model SFT starts from, measured by loading it: where it comes from, its size and
    its vocabulary; for the small base also how long its pretraining took.

    Keys: ``path``, ``source`` (``"committed"``, ``"pretraining run"`` or ``"hub"``),
    ``n_params``, ``vocab_size``, ``hidden_size``, ``num_hidden_layers``,
    ``num_attention_heads``, ``intermediate_size``, ``max_position_embeddings``,
    ``tie_word_embeddings``, ``pretrain_seconds`` (nan when unknown), ``pretrain_run``,
    ``pretrain_note`` (the committed base's note, if any).
    """
    from sftrl.training import train
    from sftrl.training.model import count_parameters, load_model

    path = train.base_checkpoint(cfg)
    train.quiet_libraries()
    model, tokenizer = load_model(path)
    c = model.config
    facts: dict[str, Any] = {
        "path": str(path), "n_params": count_parameters(model), "vocab_size": len(tokenizer),
        "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads, "intermediate_size": c.intermediate_size,
        "max_position_embeddings": c.max_position_embeddings,
        "tie_word_embeddings": bool(getattr(c, "tie_word_embeddings", False)),
        "pretrain_seconds": math.nan, "pretrain_run": "", "pretrain_note": "",
    }
    if cfg.model.base == config.TINY_CHAT_BASE:
        facts.update(source="tiny-chat", path=cfg.model.base)  # a folder under data/: named, not located
    elif cfg.model.base != "small":
        facts.update(source="hub", path=cfg.model.base)  # as the reader named it
    elif Path(path) == paths.BASE:
        record = base_record() or {}
        facts.update(source="committed", pretrain_seconds=float(record.get("seconds", math.nan)),
                     pretrain_run=record.get("run", ""), pretrain_note=record.get("note", ""))
    else:
        run = train.pretrain_run(cfg)
        facts.update(source="pretraining run", pretrain_seconds=float(run.summary().get("seconds", math.nan)),
                     pretrain_run=run.id)
    del model
    return facts


def duration(seconds: float) -> str:
    """``42.0`` -> ``'42 s'``, ``1900`` -> ``'32 minutes'``, ``7300`` -> ``'2.0 hours'``."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def model_sentences(facts: Mapping[str, Any]) -> dict[str, str]:
    """``model_intro`` and ``vocab_sentence`` of the Methods page, for the small base or a
    hub model (``facts`` from :func:`base_facts`)."""
    if facts["source"] == "tiny-chat":
        return {"model_intro": "This profile fine-tunes the project's tiny Qwen2-style chat model (`tiny-chat`, "
                               "random weights, built by sftrl.training.tiny_chat to prove the chat path), a decoder",
                "vocab_sentence": f"Its byte-level BPE tokenizer, trained on the task's own text, has "
                                  f"{facts['vocab_size']:,} tokens, and it answers in the papers' JSON format through "
                                  "its ChatML chat template."}
    if facts["source"] == "hub":
        return {"model_intro": f"This profile fine-tunes {facts['path']}, a pretrained decoder",
                "vocab_sentence": f"Its tokenizer has {facts['vocab_size']:,} tokens, and it answers in the papers' "
                                  "JSON format through its chat template."}
    return {"model_intro": "No pretrained weights can be downloaded where this book is built, so it pretrains its "
                           "own model: a Llama-style decoder",
            "vocab_sentence": f"Its vocabulary holds {facts['vocab_size']} words: the card ranks, the numbers 1 to 13, "
                              "the four operators and parentheses, a few field names and the special tokens."
                              + ("" if facts["tie_word_embeddings"] else " The embeddings are untied so that an edit "
                                 "of the input embedding cannot silently change the output layer.")}


def pretrain_sentence(facts: Mapping[str, Any]) -> str:
    """Where the base came from and how long its pretraining took, as one sentence
    (``facts`` from :func:`base_facts`)."""
    seconds = facts.get("pretrain_seconds", math.nan)
    if facts["source"] in ("hub", "tiny-chat"):
        return f"this profile fine-tunes {facts['path']} instead, which needs no pretraining here."
    took = duration(seconds) if math.isfinite(seconds) else "an unrecorded time"
    if facts["source"] == "committed":
        note = f" ({facts['pretrain_note']})" if facts.get("pretrain_note") else ""
        return (f"that took {took} on the machine that made it{note}, so its result is committed under data/base "
                "(make base rebuilds it).")
    return f"in this profile it is pretrained as part of the build (run {facts['pretrain_run']}, in {took})."


def compact_example(cards: Sequence[str] = ("A", "5", "J", "Q"), rule: str = "ood") -> str:
    """A compact-format prompt and its strict answer (the first solution), two lines."""
    from sftrl.task import game
    from sftrl.task.prompts import get_format

    fmt, r = get_format("compact"), game.get_rule(rule)
    hand = game.parse_hand(cards)
    solutions = game.solve(r.values(hand))
    if not solutions:
        raise SftrlError(f"hand {' '.join(cards)} has no solution under rule {rule!r}")
    return f"prompt: {fmt.prompt(hand, r)}\nanswer: {fmt.answer(hand, r, solutions[0])}"


def revision_example(cards: Sequence[str] = ("A", "5", "J", "Q"), rule: str = "ood", seed: int = 3) -> str:
    """A revision transcript of the pretraining corpus (two wrong attempts, then the
    correct answer), as :func:`sftrl.task.corpus.revision_example` writes it."""
    import random

    from sftrl.task import corpus, game
    from sftrl.task.prompts import get_format

    fmt, r = get_format("compact"), game.get_rule(rule)
    hand = game.parse_hand(cards)
    rng = random.Random(seed)
    ex = corpus.revision_example(fmt, hand, r, game.solve(r.values(hand))[0], 2, rng)
    return f"prompt: {ex['prompt']}\nanswer:{ex['completion']}"


def rl_reward_text(cfg: StudyConfig) -> str:
    """The RL episode's reward in words."""
    if cfg.rl.reward == "shaped":
        return "the sum of the turns' shaped rewards"
    return "1 when the episode is solved within its attempts, else 0"


def _paper_setting(key: str) -> str:
    v = paper_value(key)
    return v.text() if v.value is not None else value_text(key)


#: what the settings table prints where sftrl.claims.papers records no value of paper A
NOT_RECORDED = "—"


def settings_rows(cfg: StudyConfig) -> list[list[str]]:
    """``[stage, setting, ours, paper A]`` rows: our settings from ``cfg`` (and the trl
    defaults it keeps) beside paper A's from :mod:`sftrl.claims.papers` (:data:`NOT_RECORDED`
    where the module has none)."""
    t = trl_defaults()
    s, r, e = cfg.sft, cfg.rl, cfg.eval
    llama, qwen = papers.FIGURE1["Llama-3.2-11B"], papers.FIGURE1["Qwen2.5-7B"]
    sizes = eval_sizes(cfg)
    n_paper = int(papers.get("task.eval_hands").value)  # type: ignore[arg-type]
    kept = sorted({*s.checkpoints, s.steps} - {0})
    model = "small Llama-style base (see above)" if cfg.model.base == "small" else cfg.model.base
    rows = [
        ["model", "fine-tuned model", model, f"{llama.model}, {qwen.model}"],
        ["model", "answer format", cfg.model.answer_format, "JSON {cards, number, formula}, no chain of thought"],
        ["model", "weights during fine-tuning", cfg.model.dtype, NOT_RECORDED],
        ["SFT", "optimizer steps", setting_text(s.steps),
         f"{llama.end_step} ({llama.model}), {qwen.end_step} ({qwen.model})"],
        ["SFT", "sequences per step", setting_text(s.batch_size), NOT_RECORDED],
        ["SFT", "learning rate (AdamW)", f"{s.lr:g}, constant after {s.warmup_steps} warm-up steps", NOT_RECORDED],
        ["SFT", "answers per training hand",
         f"up to {s.max_solutions} distinct solutions" if s.targets == "random" else "one canonical solution",
         NOT_RECORDED],
        ["SFT", "checkpoints kept", f"{len(kept)}, at steps {kept[0]}-{kept[-1]}", NOT_RECORDED],
        ["RL", "algorithm", f"GRPO (trl {t['trl_version']}, loss {t['loss_type']!r}), group of {r.num_generations}",
         "PPO with a value head"],
        ["RL", "KL coefficient", setting_text(r.beta), _paper_setting("fig1.rl.kl")],
        ["RL", "learning rate", setting_text(r.lr), _paper_setting("fig1.rl.lr")],
        ["RL", "clip range", f"{t['clip_epsilon']:g} (trl default)", _paper_setting("fig1.rl.clip")],
        ["RL", "episode", f"up to {r.attempts} attempts, the verifier's feedback between them "
         "(trl's env_mask keeps it out of the loss)", "up to 5 attempts with the verifier's feedback"],
        ["RL", "discount γ, GAE λ", "none: one scalar per episode, the sum of its turns' rewards (no value head)",
         f"{_paper_setting('fig1.rl.gamma')}, {_paper_setting('fig1.rl.lambda')}"],
        ["RL", "gradient-norm clip", f"{t['max_grad_norm']:g} (transformers default)",
         _paper_setting("fig1.rl.grad_clip")],
        ["RL", "rollout temperature", setting_text(r.temperature), _paper_setting("fig1.rl.temperature")],
        ["RL", "optimizer steps", setting_text(r.steps), NOT_RECORDED],
        ["RL", "rollouts per step", f"{r.prompts_per_step} prompts × {r.num_generations}", NOT_RECORDED],
        ["RL", "reward", f"{r.reward} (verifier)" + (", summed over the turns" if r.reward == "shaped" else
                                                     ", 1 when solved within the attempts"),
         "shaped (+5 / -1 / -2 / -3) per turn"],
        ["RL", "started from SFT steps", setting_text(cfg.rl_from_steps),
         f"checkpoints along SFT; restoring window {value_text('fig1.llama.window')} ({llama.model})"],
        ["RL", "seeds per start (Figure 1)", setting_text(cfg.rl_seeds), NOT_RECORDED],
        ["evaluation", "hands per rule",
         f"ID {sizes['id']} (drawn from the SFT hands) and {sizes['id_heldout']} (held-out value multisets), "
         f"OOD {sizes['ood']}", setting_text(n_paper)],
        ["evaluation", "attempts per hand",
         f"{e.attempts}, " + ("greedy" if e.temperature == 0 else f"temperature {e.temperature:g}")
         + (", each wrong one answered by the verifier" if e.attempts > 1 else ""),
         f"{_paper_setting('task.eval_attempts')}, each wrong one answered by the verifier"],
        ["evaluation", "95% half-width at 20% accuracy",
         f"ID ±{100 * half_width_at(sizes['id']):.1f}, OOD ±{100 * half_width_at(sizes['ood']):.1f} points",
         f"±{100 * half_width_at(n_paper):.1f} points"],
    ]
    return rows


def settings_table(cfg: StudyConfig) -> Table:
    """:func:`settings_rows` as a table."""
    notes = [(f"{NOT_RECORDED}: not among paper A's numbers recorded in sftrl.claims.papers. "
              "Paper A's RL settings are those of its PPO runs.")]
    return Table(["stage", "setting", f"this book ({cfg.profile} profile)", "paper A"], settings_rows(cfg),
                 notes=notes)


def _log(path: Path | None) -> Path:
    """``path``, or where the study log lives (:data:`sftrl.claims.study_log.SNAPSHOT`)."""
    from sftrl.claims import study_log

    return study_log.SNAPSHOT if path is None else Path(path)


def _signed(x: float) -> str:
    return f"{x + 0.0:+.1f}"


#: how a study-log row was made, as the Methods table marks it
LIVE, EARLIER_CODE, NOT_RUN = "this build's run", "made by earlier code", "not yet run"


def _is_book_default(cfg: StudyConfig) -> bool:
    """Whether ``cfg`` is the configuration the study log's "default" row describes."""
    from sftrl.claims import study_log

    return config.same_results(config.profile(study_log.PROFILE), cfg)


def tried_entries(path: Path | None = None, cfg: StudyConfig | None = None) -> list[dict[str, Any]]:
    """The study log's rows (:func:`sftrl.claims.study_log.read_log`), each with ``made``:
    :data:`LIVE`, ``"today's code"``, :data:`EARLIER_CODE` or the row's earlier protocol.

    When ``cfg`` is the book's own configuration (the log's "default"), that row is taken
    from the live run (:func:`sftrl.claims.study_log.summarise`, reading the cached runs the
    figure pages made), never from the log.
    """
    path = _log(path)
    stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else None
    return copy.deepcopy(_entries(path, stamp, cfg))


@functools.lru_cache(maxsize=8)
def _entries(path: Path, stamp: tuple[int, int] | None, cfg: StudyConfig | None) -> list[dict[str, Any]]:
    """:func:`tried_entries`, made once per state of the log (``stamp``) within a process."""
    from sftrl.claims import study_log

    rows = [dict(r) for r in study_log.read_log(path)]
    for r in rows:
        r["made"] = r.get("era") or ("today's code" if study_log.is_current(r) else EARLIER_CODE)
    known = {r.get("name") for r in rows}
    rows += [{"name": t.name, "why": t.why, "overrides": t.overrides, "made": NOT_RUN}
             for t in study_log.TRIED if t.name not in known]
    if cfg is not None and _is_book_default(cfg):
        live = {**study_log.summarise(study_log.TRIED[0], study_log.PROFILE), "made": LIVE}
        names = [r.get("name") for r in rows]
        if live["name"] in names:
            rows[names.index(live["name"])] = live
        else:
            rows.insert(0, live)
    return rows


def _settings(overrides: Mapping[str, Any] | None) -> str:
    """A row's overrides as one cell, lists spaced so the cell wraps within the column."""
    return re.sub(r",(?=\S)", ", ", cell(overrides or "none"))


def _tried_row(entry: Mapping[str, Any]) -> list[str]:
    """One study-log entry (as :func:`sftrl.claims.study_log.summarise` writes it) as table cells."""
    if entry.get("made") == NOT_RUN:  # declared in the study, not yet in its log
        return [f"{entry['name']} ({NOT_RUN})", str(entry.get("why", "")), _settings(entry.get("overrides")),
                "not yet run: `make study` runs it", "not run", "not run", "not run"]
    sft = (f"OOD {entry['peak_ood']:.1f}% at step {entry['peak_step']} → {entry['ood_end']:.1f}% at "
           f"{entry['end_step']}; ID {entry['id_at_peak']:.1f}% → {entry['id_end']:.1f}%")
    ood, idd, verdict = "not run", "not run", "SFT only"
    if entry.get("rl"):
        ood_parts, id_parts = [], []
        for r in entry["rl"]:
            gains = [x - r["ood_start"] for x in r.get("ood_rl_seeds") or [r["ood_rl"]]]
            spread = f" (seeds {_signed(min(gains))} to {_signed(max(gains))})" if len(gains) > 1 else ""
            paired = r.get("ood_change_paired_ci")
            paired = f" [{_signed(paired[0])}, {_signed(paired[1])}]" if paired else ""
            ood_parts.append(f"{r['from']}: {_signed(r['ood_rl'] - r['ood_start'])}{paired}{spread}")
            id_parts.append(f"{r['from']}: {_signed(r['id_rl'] - r['id_start'])}")
        seeds = entry.get("rl_seeds", 1)
        ood = f"{'; '.join(ood_parts)} ({seeds} seed{'s' if seeds != 1 else ''} each)"
        idd = "; ".join(id_parts)
        verdict = entry.get("rl_verdict", "")
    name = str(entry["name"])
    made = entry.get("made", EARLIER_CODE)
    if made in (LIVE, EARLIER_CODE):
        name += f" ({made})"
    return [name, str(entry.get("why", "")), _settings(entry.get("overrides")), sft, ood, idd, verdict]


def tried_table(path: Path | None = None, cfg: StudyConfig | None = None) -> Table | None:
    """The study log written by ``make study`` (:mod:`sftrl.claims.study_log`) as a table,
    rows as :func:`tried_entries` gives them, or None when no log is committed. SftrlError
    naming the entry that is malformed."""
    path = _log(path)
    if not path.is_file():
        return None
    rows = []
    for i, entry in enumerate(tried_entries(path, cfg)):
        try:
            rows.append(_tried_row(entry))
        except (KeyError, TypeError, ValueError) as exc:
            raise SftrlError(f"{path}: entry {i} is not a study-log entry of sftrl.claims.study_log ({exc!r}); "
                             "rerun `make study`") from None
    notes = ["Settings: flat overrides of the cpu profile (sftrl.config.profile); none = the default. "
             "SFT: the OOD peak and the end of SFT, ID at both. RL: OOD after RL minus OOD at the start "
             "checkpoint, in points, by start step: the mean over seeds, its paired 95% interval (the same "
             "hands before and after RL) in square brackets and the seeds' range; "
             "held-out ID likewise (mean). Verdict: the Figure-1 rule for RL's recovery window "
             "(sftrl.claims.rules.rl_restores_in_window) applied to that configuration's runs.",
             f"Every row records the code that made it (a digest of the pipeline's source, with the commit, the "
             f"package versions and the processor). Rows marked ({LIVE}) are computed by this build from its own "
             f"runs; rows marked ({EARLIER_CODE}) were made by code other than today's, and `make study` "
             "remakes them.",
             "Rows marked (earlier protocol) were measured by earlier code with one greedy attempt per hand, "
             "single-turn RL and a base pretrained without revision transcripts; that base is gone, so they "
             "stay as measured and cannot be rerun."]
    return Table(["configuration", "what it tests", "settings", "SFT", "RL: OOD change (points)",
                  "RL: ID change (points)", "RL window verdict"], rows, notes=notes)


#: the columns of the seeds table: (header, how to read it from a study-log row)
_SEED_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("OOD peak (%)", lambda e: e["peak_ood"]),
    ("OOD at the end (%)", lambda e: e["ood_end"]),
    ("ID at the end (%)", lambda e: e["id_end"]),
    ("best RL OOD change (points)", lambda e: max((r["ood_rl"] - r["ood_start"] for r in e.get("rl") or []),
                                                  default=math.nan)),
    ("top 20% restored: recovery (%)", lambda e: e["edits"]["top20_recovery"]),
    ("first 25% of layers: recovery (%)", lambda e: e["edits"]["first25_recovery"]),
    ("RL + SFT directions: OOD (%)", lambda e: e["edits"]["graft_rl_sft_directions_ood"]),
    ("SFT + RL directions: OOD (%)", lambda e: e["edits"]["graft_sft_rl_directions_ood"]),
)


def _number(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) else math.nan


def seeds_table(entries: list[dict[str, Any]]) -> Table | None:
    """The default configuration under each SFT seed (the study log's rows with verdicts,
    :func:`tried_entries`): the quantities Figures 1, 4 and 5's verdicts use, one row per
    seed and the spread (largest minus smallest); None when the log holds no such rows."""
    rows = sorted((e for e in entries if e.get("verdicts") and e.get("era") is None),
                  key=lambda e: e.get("sft_seed", 0))
    if not rows:
        return None
    body, values = [], []
    for e in rows:
        vals = [_number(get(e)) for _, get in _SEED_COLUMNS]
        values.append(vals)
        body.append([f"{e.get('sft_seed', 0)} ({e.get('made', EARLIER_CODE)})", *(f"{v:.1f}" for v in vals)])
    spread = [max(col) - min(col) if all(math.isfinite(v) for v in col) else math.nan for col in zip(*values)]
    body.append(["spread (points)", *(f"{v:.1f}" for v in spread)])
    agree = sum(len({e["verdicts"].get(c, {}).get("verdict") for e in rows}) == 1 for c in rows[0]["verdicts"])
    notes = [f"{agree} of the {len(rows[0]['verdicts'])} Figure 1-5 claims get the same verdict under every seed "
             "listed; the claims page marks the others mixed across seeds (rows made by earlier code take no part "
             "there). Recovery: (OOD of the edit - OOD of the SFT end) / (OOD of the reference - OOD of the SFT "
             "end), the reference being the SFT checkpoint with the best OOD accuracy."]
    return Table(["SFT seed", *(h for h, _ in _SEED_COLUMNS)], body, notes=notes)


def tried_verdicts_sentence(path: Path | None = None, cfg: StudyConfig | None = None) -> str:
    """How many of the study log's RL configurations reproduce RL's recovery window (by the
    verdict each row records), or an empty string when no log is committed."""
    path = _log(path)
    if not path.is_file():
        return ""
    from sftrl.claims.study_log import EARLIER

    entries = [e for e in tried_entries(path, cfg) if e.get("rl")]
    parts = []
    for label, group in (("under the papers' protocol", [e for e in entries if e.get("era") != EARLIER]),
                         ("under the earlier single-attempt protocol", [e for e in entries if e.get("era") == EARLIER])):
        verdicts = [e.get("rl_verdict") for e in group]
        if verdicts:
            counts = {v: verdicts.count(v) for v in ("reproduced", "partly", "not reproduced")}
            parts.append(f"Of the {len(verdicts)} RL configurations {label}, {counts['reproduced']} reproduced RL's "
                         f"recovery window, {counts['partly']} partly, and {counts['not reproduced']} did not.")
    return " ".join(parts) if parts else "No configuration of the log ran RL."


def tried_sentence(table: Table | None, path: Path | None = None) -> str:
    """The sentence that introduces the study log (or says that none is recorded)."""
    path = _log(path)
    where = path.relative_to(paths.ROOT) if path.is_relative_to(paths.ROOT) else path
    if table is None:
        return (f"The study log is not yet recorded: once committed as {where}, it lists here the design choices "
                "tried and rejected, with their numbers.")
    return (f"The design choices tried before settling on the settings above, with their numbers and what was "
            f"decided ({len(table.rows)} configurations, from the study log {where}).")
