"""Benchmark of the paper-scale path on one GPU: build, SFT, RL and the spectral pass, timed.

Builds a random (seeded) Qwen2.5-0.5B-shaped model from its configuration (no hub weights are
reachable on a lent GPU machine), bf16 on disk, with the project's chat tokenizer
(:func:`sftrl.training.tiny_chat.build_tokenizer`: 618 ids against the model's 151936, so the
random model's samples decode to little text); runs the ``gpu`` profile, cut to a few minutes
(:data:`OVERRIDES`), through :func:`sftrl.training.train.sft` and :func:`sftrl.training.train.rl`
from the end of SFT (a random model never solves a hand: its reward is recorded all the same);
then the spectral pass (:func:`sftrl.weights.spectral.compare`, ``k_frac=0.2``) between the base
and the RL checkpoint on CUDA and on the CPU, each with a cold SVD cache, checking that every
row agrees within :data:`TOLERANCES`. Each stage's wall time and ``torch.cuda.max_memory_allocated()``
(reset between stages) go to the snapshot, written after every stage. ``--max-seconds`` bounds
the run: a stage whose usual time (:data:`ESTIMATES`) no longer fits is skipped, one running when
the budget ends is interrupted. Without CUDA it refuses (exit 2) unless ``--device cpu``;
``--shape tiny`` (tiny_chat's size, vocabulary 1024) runs the whole script on a CPU. A lent GPU
machine lacks trl, datasets, dill and multiprocess: carry them as wheels (bench/results/README.md).

Usage: ``python bench/gpu.py [--shape 0.5b|tiny] [--device auto|cuda|cpu] [--max-seconds 450] [--json PATH]``
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: model shapes: Qwen2.5-0.5B's configuration, and the tiny_chat-sized stand-in for CPU tests
SHAPES: dict[str, dict[str, Any]] = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                 rope_theta=1e6, rms_norm_eps=1e-6),
    "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=1024, max_position_embeddings=4096),
}
#: the gpu profile cut to fit (see the module docstring): 20 SFT steps of 64 sequences, RL of
#: 4 steps of 4 prompts x 4 samples, each an episode of up to 5 attempts of 64 tokens (a random
#: model never ends an attempt early, so every step plays 16 episodes x 320 sampled tokens)
OVERRIDES: dict[str, Any] = dict(
    sft_steps=20, sft_warmup_steps=2, sft_checkpoints=(10, 20), rl_from_steps=(20,),
    rl_steps=4, rl_checkpoints=(4,), rl_prompts_per_step=4, rl_num_generations=4, rl_attempts=5,
    rl_max_completion_length=64,
)
#: seconds a stage usually takes (0.5b on one H100, padded; tiny on one CPU thread): a stage
#: is skipped when this no longer fits the budget
ESTIMATES: dict[str, dict[str, float]] = {
    "0.5b": {"build": 30, "sft": 60, "rl": 90, "spectral cuda": 90, "spectral cpu": 120},
    "tiny": {"build": 5, "sft": 30, "rl": 15, "spectral cuda": 5, "spectral cpu": 5},
}
#: |cuda - cpu| allowed per row field. Both passes are float32 SVDs that differ only in the order
#: of their operations. Measured here as a stand-in: compare() on Qwen-shaped matrices (q/k/v/o,
#: gate/up/down and a streamed 40000 x 896 embedding, bf16 base, relative changes 1e-4..1e-2)
#: against the same pair with rows and columns permuted (identical metrics in exact arithmetic)
#: differed by at most 1.6e-7 in spectral_drift, 6.4e-7 in mean_rel_dsigma, 5e-4 degrees in the
#: mean angles and 0.085 degrees in the largest angles (the top-k subspace's last direction
#: turns with rounding where singular values k and k+1 nearly coincide); each tolerance is
#: about 10x that. mean_rel_dsigma can still jump where a singular value sits at the cut-off
#: below which its relative change is left out (relative_sigma_change), on one device only.
TOLERANCES: dict[str, float] = {
    "spectral_drift": 2e-6, "mean_rel_dsigma": 1e-5,
    "max_angle_u": 0.5, "mean_angle_u": 5e-3, "max_angle_v": 0.5, "mean_angle_v": 5e-3,
}
GB = 1 << 30
START = time.monotonic()  #: the budget counts from here, imports included


class BudgetSpent(BaseException):
    """Raised by SIGALRM when --max-seconds is up (BaseException: no library swallows it)."""


def _alarm(signum: int, frame: object) -> None:
    raise BudgetSpent()


class Bench:
    """The snapshot, filled stage by stage and written after each one."""

    def __init__(self, head: dict[str, Any], budget: float, estimates: dict[str, float], out: Path | None,
                 cuda: bool):
        self.t0, self.budget, self.estimates, self.out, self.cuda = START, budget, estimates, out, cuda
        self.stopped: str | None = None
        self.snap: dict[str, Any] = {**head, "stages": {}, "skipped": {}, "errors": {}, "peak_gpu_memory_gb": {}}
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, max(1e-3, budget - (time.monotonic() - START)))

    def run(self, name: str, fn: Callable[[], Any], needs: object = True, kind: str | None = None) -> Any:
        """``fn()`` timed as stage ``name`` (its estimate: ``kind``'s, default its own), or None
        when it is skipped (``needs`` is None: an earlier stage did not finish) or fails."""
        import torch

        left, estimate = self.budget - (time.monotonic() - self.t0), self.estimates[kind or name]
        reason = (self.stopped or ("an earlier stage did not finish" if needs is None else None)
                  or (f"needs ~{estimate:.0f} s, {left:.0f} s left" if estimate > left else None))
        if reason:
            self.snap["stages"][name] = None
            self.snap["skipped"][name] = reason
            print(f"[gpu] {name}: skipped ({reason})", file=sys.stderr, flush=True)
            self.write()
            return None
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        print(f"[gpu] {name} ...", file=sys.stderr, flush=True)
        t, result = time.perf_counter(), None
        try:
            result = fn()
            if self.cuda:
                torch.cuda.synchronize()
        except BudgetSpent:
            self.stopped = f"--max-seconds {self.budget:g} spent during {name}"
            self.snap["errors"][name] = f"interrupted: {self.stopped}"
        except Exception as err:  # noqa: BLE001  recorded; the stages after it are skipped or go on
            traceback.print_exc()
            self.snap["errors"][name] = f"{type(err).__name__}: {str(err).strip()[:500]}"
        self.snap["stages"][name] = round(time.perf_counter() - t, 2)
        if self.cuda:
            self.snap["peak_gpu_memory_gb"][name] = round(torch.cuda.max_memory_allocated() / GB, 3)
        print(f"[gpu] {name}: {self.snap['stages'][name]} s", file=sys.stderr, flush=True)
        self.write()
        return None if name in self.snap["errors"] else result

    def write(self) -> None:
        self.snap["total_s"] = round(time.monotonic() - self.t0, 2)
        if self.out is not None:
            self.out.write_text(json.dumps(self.snap, indent=2) + "\n")


def build(folder: Path, shape: str, seed: int = 0) -> int:
    """Write the random Qwen2 model (bf16) and the chat tokenizer to ``folder``; its parameter count."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from sftrl.training import tiny_chat

    tokenizer = tiny_chat.build_tokenizer()
    text_end, turn_end = tokenizer.convert_tokens_to_ids([tiny_chat.ENDOFTEXT, tiny_chat.IM_END])
    config = Qwen2Config(**SHAPES[shape], tie_word_embeddings=True, bos_token_id=text_end,
                         eos_token_id=turn_end, pad_token_id=text_end)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model = model.to(torch.bfloat16)
    model.generation_config.eos_token_id = [turn_end, text_end]  # as tiny_chat.build: either ends a completion
    model.generation_config.pad_token_id = text_end
    model.generation_config.bos_token_id = text_end
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())  # a tied matrix counted once


def _diff(x: float, y: float) -> float:
    """``|x - y|``: 0 where both are NaN, infinite where one only is."""
    if math.isnan(x) or math.isnan(y):
        return 0.0 if math.isnan(x) and math.isnan(y) else math.inf
    return abs(x - y)


def svd_check(on_device: list[dict], on_cpu: list[dict]) -> dict[str, Any]:
    """Per field of :data:`TOLERANCES`: the largest |device - cpu| over the rows, where, and pass/fail."""
    if [(r["name"], r["k"]) for r in on_device] != [(r["name"], r["k"]) for r in on_cpu]:
        return {"passed": False, "error": "the two passes list different matrices"}
    fields: dict[str, Any] = {}
    for field, tol in TOLERANCES.items():
        worst, at = max((_diff(a[field], b[field]), a["name"]) for a, b in zip(on_device, on_cpu))
        fields[field] = {"max_abs_diff": worst, "at": at, "tolerance": tol, "passed": worst <= tol,
                         "largest_value": max((abs(b[field]) for b in on_cpu if not math.isnan(b[field])), default=0)}
    return {"matrices": len(on_cpu), "passed": all(f["passed"] for f in fields.values()), "fields": fields}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="0.5b", help="model shape (default: 0.5b)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                        help="where SFT, RL and the first spectral pass run (default: CUDA when present)")
    parser.add_argument("--max-seconds", type=float, default=450.0, help="budget of the whole run (default: 450)")
    parser.add_argument("--workdir", default=None, help="where the data folder goes (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (models, runs) afterwards")
    parser.add_argument("--json", default=None, help="also write the snapshot to this JSON file")
    args = parser.parse_args(argv)
    if args.max_seconds <= 0:
        parser.error("--max-seconds must be positive")

    import torch

    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda or args.device == "auto" and not cuda and args.shape != "tiny":
        print("gpu.py: no CUDA device on this machine; add --device cpu to run on the CPU instead", file=sys.stderr)
        return 2
    device = "cuda" if args.device != "cpu" and cuda else "cpu"
    data = Path(tempfile.mkdtemp(prefix="sftrl-bench-gpu-", dir=args.workdir))
    os.environ["SFTRL_DATA"] = str(data)  # read when sftrl is first imported, below
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "src"))  # a machine without the package installed

    try:  # every package the stages need, before anything is built
        import datasets  # noqa: F401
        import trl  # noqa: F401

        from sftrl import config, provenance
        from sftrl.training import train
        from sftrl.weights.spectral import compare
    except ImportError as err:
        shutil.rmtree(data, ignore_errors=True)
        print(f"gpu.py: {err} (carry the missing packages as wheels)", file=sys.stderr)
        return 2

    # the profile's torch threads, never more than the cores or OMP_NUM_THREADS
    threads = min(config.profile("gpu").threads, os.cpu_count() or 1, int(os.environ.get("OMP_NUM_THREADS", 64)))
    settings = {**OVERRIDES, "device": device, "threads": threads}
    cfg = config.profile("gpu", model_base=str(data / "base"), **settings)
    out = Path(args.json) if args.json else None
    head = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "shape": args.shape,
            "n_params": None, "base_mb": None, "budget_s": args.max_seconds}
    bench = Bench(head, args.max_seconds, ESTIMATES[args.shape], out, device == "cuda")
    bench.snap.update({"settings": {**settings, "profile": "gpu", "k_frac": 0.2, "model": SHAPES[args.shape]},
                       "provenance": provenance.record("sftrl.training.train", "sftrl.weights.spectral")})
    try:
        n_params = bench.run("build", lambda: build(data / "base", args.shape))
        bench.snap["n_params"] = n_params
        if n_params is not None:
            bench.snap["base_mb"] = round(sum(f.stat().st_size for f in (data / "base").iterdir()) / (1 << 20), 1)
        sft = bench.run("sft", lambda: train.sft(cfg), needs=n_params)
        rl = bench.run("rl", lambda: train.rl(cfg, from_step=cfg.sft.steps), needs=sft)
        for name, run in (("sft", sft), ("rl", rl)):
            if run is not None:
                keys = ("loss", "reward", "reward_std", "completions/mean_length", "mean_token_accuracy")
                bench.snap[f"{name}_log"] = [{k: v for k, v in row.items() if k in ("step", *keys)}
                                             for row in run.metrics() if any(k in row for k in keys)]
                bench.snap[f"{name}_train_s"] = run.summary()["seconds"]
        # the RL checkpoint; the end of SFT when RL did not finish, so the SVD check still runs
        other = rl.checkpoint(cfg.rl.steps) if rl else sft.checkpoint(cfg.sft.steps) if sft else None
        bench.snap["spectral_pair"] = ["base", "rl" if rl else "sft" if sft else None]
        passes = []  # on a CPU-only run, the "cuda" pass runs on the CPU too (cold cache of its own)
        first = "spectral cuda" if device == "cuda" else "spectral cpu, first"
        for name, kind, dev in ((first, "spectral cuda", device), ("spectral cpu", "spectral cpu", "cpu")):
            cache = data / f"svd-{len(passes)}"
            passes.append(bench.run(name, lambda dev=dev, cache=cache: compare(
                data / "base", other, k_frac=0.2, device=dev, cache_root=cache), needs=other, kind=kind))
            shutil.rmtree(cache, ignore_errors=True)
        if passes[0] is not None and passes[1] is not None:
            bench.snap["svd_check"] = {"devices": [device, "cpu"], **svd_check(*passes)}
    except BudgetSpent:  # between two stages
        bench.snap["errors"]["budget"] = f"--max-seconds {args.max_seconds:g} spent between stages"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    bench.snap["complete"] = not bench.snap["skipped"] and not bench.snap["errors"]
    bench.write()
    print(json.dumps(bench.snap, indent=2))
    return 0 if bench.snap["complete"] and bench.snap.get("svd_check", {}).get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
