"""At what scale does RL heal SFT? Figure 1's study at several sizes of the small model.

Paper A's models have 7-11 B parameters; the book's default has 1 M. Each size here is the
cpu profile's pipeline with another width of the same family (4 blocks, 4 heads, an MLP
four times as wide as the model):

* a base pretrained from scratch on the same corpus, for the same steps and batch as the
  committed 1 M base. The stated rule: every size sees the same tokens, so a larger model
  sees fewer per parameter. The 1 M size *is* the committed base; the others are
  pretraining runs, cached under ``data/runs`` and rebuilt by ``make study``;
* SFT with its dense checkpoints, each evaluated under the papers' protocol;
* RL under the same protocol from :data:`FROM_STEPS`, :data:`SEEDS` seeds each;
* the best recovery fraction with its interval, what SFT erodes (:func:`diagnosis`), and
  the curve and window the claims layer judges by Figure 1's seed-robust window rule
  (:func:`sftrl.claims.rules.size_verdict`: a start counts only where every seed raises OOD).

It takes hours on 2 cores, so ``make study`` runs it and writes :data:`SNAPSHOT`, a
committed log whose rows record the code, the packages and the device that made them.
Figure 1's page draws the size panel from it, and the claims page states the verdict
per size.

Usage: ``python -m sftrl.experiments.size_study [--sizes 0.6M 1M 256x4] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sftrl import config, paths, provenance, snapshots
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.experiments import figure1, pool
from sftrl.training import train
from sftrl.training.runs import write_json_atomic

#: the committed log the size panel and the claims page read
SNAPSHOT = paths.BOOK / "study" / "sizes.json"
#: the code a row's numbers come from (its digest is the row's ``made_by``)
CODE = ("sftrl.experiments.size_study",)
#: the profile every size overrides
PROFILE = "cpu"
#: the SFT steps RL starts from at every size, by profile (early, middle and the end of the
#: cpu profile's SFT; another profile starts from its own ``rl_from_steps``)
FROM_STEPS: dict[str, tuple[int, ...]] = {"cpu": (50, 300, 600)}
#: RL seeds per start (the issue's minimum, and the profile's own)
SEEDS = 3
#: bytes per parameter of training state: fp32 weights, gradients and AdamW's two moments
TRAIN_BYTES_PER_PARAM = 16


@dataclass(frozen=True)
class Size:
    """One member of the small-model family."""

    name: str
    """The size as the book names it (its parameter count, rounded)."""
    hidden_size: int
    """Width of the model; the MLP is four times as wide."""
    layers: int = 4
    """Transformer blocks."""
    heads: int = 4
    """Attention heads (they must divide the width)."""

    def overrides(self) -> dict[str, int]:
        """The flat settings of :func:`sftrl.config.profile` that make this size."""
        return {"model_hidden_size": self.hidden_size, "model_intermediate_size": 4 * self.hidden_size,
                "model_num_hidden_layers": self.layers, "model_num_attention_heads": self.heads}


#: the CPU sizes, by width at 4 blocks (1M is the cpu profile's own model)
SIZES: tuple[Size, ...] = (Size("0.6M", 96), Size("1M", 128), Size("2.4M", 192), Size("4.2M", 256))


def parse_size(text: str) -> Size:
    """A size of :data:`SIZES` by name, or ``WIDTHxLAYERS[xHEADS]`` (e.g. ``320x4`` or
    ``320x6x8``); SftrlError naming the text otherwise."""
    text = text.strip()
    for s in SIZES:
        if s.name == text:
            return s
    parts = text.lower().split("x")
    if len(parts) not in (2, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SftrlError(f"size {text!r}: give one of {', '.join(s.name for s in SIZES)} or WIDTHxLAYERS[xHEADS] "
                         "with positive integers, e.g. 320x4")
    width, layers, heads = (int(p) for p in (*parts, "4")[:3])
    return Size(text, width, layers, heads)


def size_config(size: Size, profile: str = PROFILE, seeds: int = SEEDS) -> StudyConfig:
    """The profile at this size, RL from :data:`FROM_STEPS` with ``seeds`` seeds (checked like
    any configuration: heads must divide the width)."""
    starts = FROM_STEPS.get(profile)
    return config.profile(profile, **size.overrides(), rl_seeds=seeds,
                          rl_from_steps=",".join(map(str, starts)) if starts else None)


def count_params(cfg: StudyConfig) -> int:
    """Parameters of the small model ``cfg`` builds (counted without allocating its weights)."""
    from sftrl.training.model import build_model, build_tokenizer

    with torch.device("meta"):
        model = build_model(train._small_model_config(cfg), build_tokenizer(), seed=0)
    return sum(p.numel() for p in model.parameters())


def memory_bytes() -> int:
    """This machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_sizes(sizes: list[Size], profile: str = PROFILE, memory: int | None = None,
                seeds: int = SEEDS) -> dict[str, int]:
    """Every size's parameter count, after checking all of them before any work: a
    configuration error (heads that do not divide the width, say), or training state
    (:data:`TRAIN_BYTES_PER_PARAM` per parameter) beyond ``memory`` (default: this
    machine's), is one SftrlError naming the size."""
    memory = memory_bytes() if memory is None else memory
    counts = {}
    for s in sizes:
        try:
            cfg = size_config(s, profile, seeds)
        except SftrlError as err:
            raise SftrlError(f"size {s.name}: {err}") from None
        n = count_params(cfg)
        if n * TRAIN_BYTES_PER_PARAM > memory:
            raise SftrlError(f"size {s.name}: {n / 1e6:,.0f}M parameters need about "
                             f"{n * TRAIN_BYTES_PER_PARAM / 2**30:,.1f} GiB to train, more than this machine's "
                             f"{memory / 2**30:,.1f} GiB")
        counts[s.name] = n
    return counts


def pretrain_bases(sizes: list[Size], profile: str = PROFILE) -> None:
    """Pretrain the bases the sizes lack (not the committed one), side by side in one-thread
    children (:mod:`sftrl.experiments.pool`)."""
    cfgs = [size_config(s, profile) for s in sizes]
    todo = [c for c in cfgs if c.model.base == "small" and train.committed_base_config() != train.base_identity(c)
            and not train.pretrain_run(c).is_done]
    if todo:
        pool.run([pool.pretrain(c) for c in todo], pool.workers(todo[0]))


def _pct(x: float) -> float | None:
    return round(100 * x, 1) if isinstance(x, (int, float)) and math.isfinite(x) else None


def diagnosis(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """What SFT erodes at this size, from the OOD first attempts at the OOD peak and at the
    end of SFT (percent): ``face_as_id`` (a face card given the ID value 10: the rule is
    not read) and the verifier's ``wrong_value`` and ``wrong_numbers`` (the arithmetic),
    each as ``[at the peak, at the end]``."""
    peak = figure1.ood_peak(curve)
    ood = {r["step"]: r for r in figure1.by_split(curve, "ood")}
    a, b = ood[peak.step], ood[peak.end_step]
    out: dict[str, Any] = {"face_as_id": [_pct(figure1.face_as_id_share(r)) for r in (a, b)]}
    for key in ("wrong_value", "wrong_numbers", "malformed"):
        out[key] = [_pct(figure1.outcome_share(r, key)) for r in (a, b)]
    return out


def recovery_interval(row: dict[str, Any], peak_ood: float) -> tuple[float, float] | None:
    """The 95% interval of a window row's recovery fraction: its paired interval of the OOD
    change over the OOD lost since the peak (None where nothing was lost)."""
    lost = peak_ood - row["ood_start"]
    if not row.get("after_peak") or lost <= 1e-12:
        return None
    lo, hi = row["ood_gain_paired_ci"]
    return lo / lost, hi / lost


#: what a row keeps of the SFT curve and of the RL window (as fractions), for the claims
#: layer to judge (:func:`sftrl.claims.rules.size_verdict`) and the pages to show
CURVE_FIELDS = ("step", "split", "accuracy", "ci_low", "ci_high")
WINDOW_FIELDS = ("from_step", "ood_start", "ood_start_ci", "ood_rl", "ood_rl_ci", "ood_rl_seeds", "ood_gain_seeds",
                 "ood_gain_paired_ci", "recovery", "after_peak")


def summarise(size: Size, profile: str = PROFILE, params: int | None = None, seeds: int = SEEDS) -> dict[str, Any]:
    """Run (or read) Figure 1's study at one size: one log row. Its summary is in percent;
    ``curve`` and ``window`` keep Figure 1's rows (:data:`CURVE_FIELDS`, :data:`WINDOW_FIELDS`)
    as fractions, which the claims layer judges."""
    cfg = size_config(size, profile, seeds)
    window = figure1.rl_window(cfg)  # first: it shares the work among one-thread workers
    curve = figure1.sft_curve(cfg)
    peak = figure1.ood_peak(curve)
    best = figure1.best_recovery(window)
    ci = recovery_interval(best, peak.ood) if best else None
    device = torch.cuda.get_device_name(0) if train.device_of(cfg) == "cuda" else "cpu"
    return {
        "size": size.name, "params": params if params is not None else count_params(cfg),
        "hidden_size": size.hidden_size, "layers": size.layers, "heads": size.heads,
        "pretrain": f"{cfg.pretrain.steps} steps x {cfg.pretrain.batch_size} examples",
        "profile": profile, "device": device, "made_by": provenance.record(*CODE),
        "protocol": cfg.eval.describe(), "rl_seeds": cfg.rl_seeds,
        "base_ood": _pct(next(r["accuracy"] for r in curve if r["step"] == 0 and r["split"] == "ood")),
        "peak_step": peak.step, "peak_ood": _pct(peak.ood), "end_step": peak.end_step,
        "ood_end": _pct(peak.ood_end), "id_end": _pct(peak.id_end),
        "curve": [{k: r[k] for k in CURVE_FIELDS} for r in curve if r["split"] in ("id", "ood")],
        "window": [{k: w[k] for k in WINDOW_FIELDS} for w in window],
        "best_recovery": _pct(best["recovery"]) if best else None,
        "best_from": best["from_step"] if best else None,
        "best_recovery_ci": [_pct(x) for x in ci] if ci else None,
        "erodes": diagnosis(curve),
    }


def read(path: Path | None = None) -> list[dict[str, Any]]:
    """The log's rows, smallest model first ([] when none is committed); SftrlError when
    the file is not a list of size rows."""
    rows = snapshots.read(SNAPSHOT if path is None else path, lambda x: isinstance(x, list) and all(
        isinstance(r, dict) and "size" in r and "params" in r for r in x), "a size-study log")
    return sorted(rows or [], key=lambda r: r["params"])


def is_current(row: dict[str, Any]) -> bool:
    """Whether a row was made by today's code (its ``made_by`` digest is today's)."""
    return snapshots.made_today(row, *CODE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="*", help=f"sizes to (re)run (default all: {' '.join(s.name for s in SIZES)}); "
                    "the log's other rows are kept")
    ap.add_argument("--profile", default=PROFILE)
    ap.add_argument("--seeds", type=int, default=SEEDS, help="RL seeds per start")
    ap.add_argument("--out", type=Path, default=SNAPSHOT)
    args = ap.parse_args(argv)
    try:
        sizes = [parse_size(t) for t in args.sizes] if args.sizes else list(SIZES)
        counts = check_sizes(sizes, args.profile, seeds=args.seeds)  # every size checked before any pretraining
        old = {r["size"]: r for r in read(args.out)}
    except SftrlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    pretrain_bases(sizes, args.profile)
    for s in sizes:
        old[s.name] = summarise(s, args.profile, counts[s.name], args.seeds)
        rows = json.loads(json.dumps(sorted(old.values(), key=lambda r: r["params"]), default=lambda x: None)
                          .replace("NaN", "null"))
        write_json_atomic(args.out, rows)  # after every size: nothing computed is lost
        print(f"{s.name}: written", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
