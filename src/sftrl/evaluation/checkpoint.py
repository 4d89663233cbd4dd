"""Evaluating checkpoints: ID and OOD accuracy, format errors and answer losses, cached.

* :func:`evaluate_checkpoint` — one checkpoint on the held-out hand sets of
  :func:`sftrl.task.corpus.splits`, under ``cfg.eval`` (the one :class:`sftrl.config.EvalConfig`).
* :func:`evaluate_run` — every kept checkpoint of a finished run, cached in the run's ``evals/``.
* :func:`accuracy` — any checkpoint (an edited one, say), cached by its content
  (:func:`sftrl.identity.checkpoint_identity`).

Usage::

    rows = checkpoint.evaluate_run(train.sft(cfg), cfg, start=train.base_checkpoint(cfg))
    acc = checkpoint.accuracy(path, cfg)["ood"]["accuracy"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from sftrl import paths
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.evaluation.evaluate import evaluate_hands, face_read_as_id
from sftrl.task import corpus, game
from sftrl.task.prompts import get_format, grade
from sftrl.training import train
from sftrl.training.runs import Run, append_jsonl, read_jsonl
from sftrl.identity import checkpoint_identity, config_hash
from sftrl.provenance import code_key


def answer_loss(model, tokenizer, examples: Sequence[dict[str, str]], batch_size: int = 256) -> float:
    """Mean cross-entropy per answer token (prompt tokens masked), in nats."""
    total, count = 0.0, 0
    device = next(model.parameters()).device
    eos = tokenizer.eos_token or ""
    for i in range(0, len(examples), batch_size):
        batch = examples[i:i + batch_size]
        seqs, masks = [], []
        for ex in batch:
            p = tokenizer(ex["prompt"])["input_ids"]
            pc = tokenizer(ex["prompt"] + ex["completion"] + eos)["input_ids"]
            seqs.append(pc)
            masks.append([0] * len(p) + [1] * (len(pc) - len(p)))
        width = max(map(len, seqs))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=device)
        att = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=device)
        lab_mask = torch.tensor([m + [0] * (width - len(m)) for m in masks], device=device)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=att).logits[:, :-1].float()
        target = ids[:, 1:]
        m = lab_mask[:, 1:].bool()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
        total += float(nll[m].sum())
        count += int(m.sum())
    return total / max(count, 1)


#: the evaluation sets: (row split, Splits field, rule). ``id`` is drawn as paper A draws its
#: ID test hands (from the SFT hands); ``id_heldout`` holds out their value multisets
EVAL_SETS = (("id", "id_sft", game.ID_RULE), ("id_heldout", "id_eval", game.ID_RULE),
             ("ood", "ood_eval", game.OOD_RULE))
SPLITS = tuple(split for split, _, _ in EVAL_SETS)


def eval_key(cfg: StudyConfig) -> str:
    """The key of an evaluation setting: what the evaluation rows depend on besides the
    weights, the code that makes them (:func:`sftrl.provenance.code_key`) included."""
    return config_hash({**code_key("sftrl.evaluation.checkpoint"), "eval": dataclasses.asdict(cfg.eval),
                        "split_seed": cfg.split_seed, "format": cfg.model.answer_format})


def cap_hands(hands: Sequence[game.Hand], n: int) -> list[game.Hand]:
    """At most ``n`` of ``hands`` (0: all), evenly spread and deterministic."""
    if n <= 0 or n >= len(hands):
        return list(hands)
    step = len(hands) / n  # an even spread, deterministic
    return [hands[int(i * step)] for i in range(n)]


def evaluate_checkpoint(path: str | Path, cfg: StudyConfig) -> list[dict[str, Any]]:
    """ID and OOD accuracy, format errors and answer losses of one checkpoint.

    One row per evaluation set (:data:`EVAL_SETS`). ``accuracy`` counts hands solved within
    ``cfg.eval.attempts`` attempts, ``accuracy_1`` those solved at the first. Each row also
    carries, in the evaluation set's fixed order (for comparisons hand by hand):

    * ``solved``: one character per hand, ``"1"`` solved within the attempts, ``"0"`` not;
    * ``solved_at``: one digit per hand, the attempt that solved it (``"0"``: none; ``"a"``
      stands for 10);

    and ``first_outcomes`` (the verifier's categories of the first attempts) and
    ``face_as_id`` (``[k, n]``: first attempts that give a face card the ID value 10 where
    the rule says otherwise, of those that list numbers for such a hand).
    """
    e = cfg.eval
    model, tokenizer = train.load(path, cfg)
    fmt = get_format(cfg.model.answer_format)
    s = corpus.splits(cfg.split_seed)
    tok = tokenizer if fmt.name == "chat" else None
    sft_sample = corpus.sft_examples(cfg.sft, fmt, cap_hands(s.sft, 256), tok)[:256]
    held_sample = corpus.sft_examples(dataclasses.replace(cfg.sft, targets="canonical"), fmt,
                                      cap_hands(s.id_eval, 256), tok)
    losses = {"train_loss": answer_loss(model, tokenizer, sft_sample),
              "heldout_loss": answer_loss(model, tokenizer, held_sample)}
    rows = []
    for split, field, rule in EVAL_SETS:
        result = evaluate_hands(model, tokenizer, fmt, cap_hands(getattr(s, field), e.max_hands), rule, e)
        # the same first answers graded without the strict-format requirement
        lenient = sum(grade(fmt, rec["attempts"][0]["completion"], tuple(rec["hand"]), rule,
                            require_strict=False).correct for rec in result.records) / max(result.n, 1)
        rows.append({"split": split, "n": result.n, "correct": result.correct, "accuracy": result.accuracy,
                     "ci_low": result.ci[0], "ci_high": result.ci[1],
                     "format_error_rate": result.format_error_rate, "any_format_accuracy": lenient,
                     "hands_per_s": result.hands_per_s, **losses,
                     "accuracy_1": result.accuracy_within(1), "attempts": result.attempts,
                     "first_outcomes": result.first_outcomes(),
                     "face_as_id": list(face_read_as_id(fmt, result.records, rule)),
                     "solved": "".join("1" if rec["correct"] else "0" for rec in result.records),
                     "solved_at": "".join("0123456789a"[rec["solved_at"] or 0] for rec in result.records)})
    del model
    return rows


def evaluate_run(run: Run, cfg: StudyConfig, steps: Iterable[int] | None = None,
                 start: str | Path | None = None) -> list[dict[str, Any]]:
    """Evaluate every kept checkpoint (and step 0 = ``start``), cached in ``evals/``.

    Returns one row per (step, split) sorted by step; rows already on disk are reused.
    """
    path, ckpts, wanted = _run_evals(run, cfg, steps, start)
    todo = unevaluated(run, cfg, steps, start)
    if todo:
        train.setup_torch(cfg.threads)
    for step in todo:
        for row in evaluate_checkpoint(ckpts[step], cfg):
            append_jsonl(path, {"step": step, **row})
    rows = [r for r in read_jsonl(path) if r["step"] in set(wanted)]
    return sorted(rows, key=lambda r: (r["step"], r["split"]))


def unevaluated(run: Run, cfg: StudyConfig, steps: Iterable[int] | None = None,
                start: str | Path | None = None) -> list[int]:
    """The steps :func:`evaluate_run` would evaluate (those without cached rows), in order."""
    path, _, wanted = _run_evals(run, cfg, steps, start)
    have = {(r["step"], r["split"]) for r in read_jsonl(path)}
    return [s for s in wanted if not all((s, split) in have for split in SPLITS)]


def _run_evals(run: Run, cfg: StudyConfig, steps: Iterable[int] | None,
               start: str | Path | None) -> tuple[Path, dict[int, str | Path], list[int]]:
    """The evaluation log of ``run``, its checkpoints by step (0: ``start``) and the wanted
    steps; SftrlError for an unfinished run or a step without a checkpoint."""
    if not run.is_done:
        raise SftrlError(f"run {run.id} is not finished; train it first")
    ckpts: dict[int, str | Path] = dict(run.checkpoints())
    if start is not None:
        ckpts[0] = start
    wanted = sorted(ckpts) if steps is None else sorted(set(steps))
    missing = [s for s in wanted if s not in ckpts]
    if missing:
        raise SftrlError(f"run {run.id} has no checkpoint at step(s) {missing}; kept: {sorted(ckpts)}")
    return run.dir / "evals" / f"{eval_key(cfg)}.jsonl", ckpts, wanted


def _cached_accuracy(path: str | Path, cfg: StudyConfig) -> tuple[Path, str, list[dict[str, Any]]]:
    key = eval_key(cfg)
    cache = paths.CACHE / "evals" / f"{config_hash({'weights': checkpoint_identity(path)})}.jsonl"
    return cache, key, [r for r in read_jsonl(cache) if r.get("key") == key]


def has_accuracy(path: str | Path, cfg: StudyConfig) -> bool:
    """Whether :func:`accuracy` of ``path`` under ``cfg`` is cached (no evaluation needed)."""
    return {r["split"] for r in _cached_accuracy(path, cfg)[2]} >= set(SPLITS)


def accuracy(path: str | Path, cfg: StudyConfig) -> dict[str, dict[str, Any]]:
    """The evaluation rows of any checkpoint (an edited one, say) by split, cached by its content."""
    cache, key, rows = _cached_accuracy(path, cfg)
    if not {r["split"] for r in rows} >= set(SPLITS):
        rows = [{"key": key, **r} for r in evaluate_checkpoint(path, cfg)]
        for r in rows:
            append_jsonl(cache, r)
    return {r["split"]: r for r in rows}
