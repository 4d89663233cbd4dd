"""The Reproduce page: the committed timing snapshot, the gpu profile, estimates labelled as such.

Usage::

    snap = reproduce.bench_snapshot()           # bench/results/book.json, or None
    reproduce.stage_table(snap); reproduce.profile_table("cpu", "gpu")
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sftrl import paths
from sftrl.book.methods import duration
from sftrl.book.tables import Table, setting_text
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError


#: the committed snapshot of `bench/book.py --json` (see bench/results/README.md)
BENCH_BOOK = paths.BENCH / "results" / "book.json"
#: the project's budget for a fresh ``make book`` with the cpu profile on a 2-core machine
BOOK_BUDGET_S = 15 * 60


def bench_snapshot(path: Path = BENCH_BOOK) -> dict[str, Any] | None:
    """The committed benchmark of ``make book`` (``{profile, fresh, cpus, stages}``), or None."""
    path = Path(path)
    if not path.is_file():
        return None
    snap = json.loads(path.read_text())
    if not isinstance(snap, Mapping) or not isinstance(snap.get("stages"), Mapping):
        raise SftrlError(f"{path} has no 'stages' table; regenerate it with bench/book.py --json")
    return dict(snap)


def stage_table(snapshot: Mapping[str, Any] | None) -> Table | None:
    """One row per stage of the snapshot: seconds and minutes (None without a snapshot)."""
    if snapshot is None:
        return None
    rows = [[name, f"{float(s):.1f}", f"{float(s) / 60:.1f}"] for name, s in snapshot["stages"].items()]
    env = "a fresh environment" if snapshot.get("fresh") else "an environment already installed"
    return Table(["stage", "seconds", "minutes"], rows,
                 notes=[(f"Measured by bench/book.py on {snapshot.get('cpus', '?')} CPUs, profile "
                         f"{snapshot.get('profile', '?')}, with {env}.")])


def stage_seconds(snapshot: Mapping[str, Any] | None, stage: str) -> float:
    """Seconds of one stage of a snapshot (``"total make book"``, ``"notebook NAME"``...),
    nan when there is no snapshot or no such stage."""
    if snapshot is None:
        return math.nan
    return float(snapshot["stages"].get(stage, math.nan))


def rerun_sentence(snapshot: Mapping[str, Any] | None, notebook: str) -> str:
    """How long rerunning ``notebook`` with new training settings takes, from the snapshot."""
    seconds = stage_seconds(snapshot, f"notebook {notebook}")
    if not math.isfinite(seconds):
        return "How long that takes is the page's stage in the benchmark, which is not committed yet."
    return f"That takes about as long as the page's stage in the table above, {duration(seconds)}."


def budget_sentence(snapshot: Mapping[str, Any] | None) -> str:
    """What the benchmark snapshot says about ``make book``'s time, as one sentence."""
    if snapshot is None:
        return ("No benchmark snapshot is committed yet (bench/results/book.json): make bench times every stage "
                "on your machine, and bench/results/README.md says how the snapshot is made.")
    total, rebuild = stage_seconds(snapshot, "total make book"), stage_seconds(snapshot, "rebuild, nothing changed")
    env = "a fresh environment" if snapshot.get("fresh") else "an environment already installed"
    prov = snapshot.get("provenance") or {}
    made = (f", {prov['processor']}, code {str(prov.get('commit', '?'))[:12]}" if prov.get("processor") else
            ", machine and code version not recorded")
    notebooks = {k: float(v) for k, v in snapshot["stages"].items() if k.startswith("notebook ")}
    budget = ""
    if math.isfinite(total):
        over = "over" if total > BOOK_BUDGET_S else "within"
        budget = f", {over} the project's budget of {duration(BOOK_BUDGET_S)}"
        if total > BOOK_BUDGET_S and notebooks:
            slow = max(notebooks, key=notebooks.get)
            budget += (f" ({slow.removeprefix('notebook ')} alone took {duration(notebooks[slow])}, "
                       f"{notebooks[slow] / total:.0%} of the whole)")
    return (f"On the machine of the committed benchmark ({snapshot.get('cpus', '?')} CPUs{made}; {env}), "
            f"make book took {duration(total)} in all{budget}, and a rebuild with nothing changed "
            f"{duration(rebuild)}; the stages:")


def base_rebuild_sentence(record: Mapping[str, Any] | None) -> str:
    """How long ``make base`` took when the committed base was made (from its record)."""
    if record is None:
        return ("This checkout has no committed base (data/base), so the first make book pretrains it with the "
                "cpu profile's settings.")
    seconds = float(record.get("seconds", math.nan))
    note = f" ({record['note']})" if record.get("note") else ""
    return (f"The committed base (run {record.get('run', '?')}, torch {record.get('torch', '?')}) took "
            f"{duration(seconds)} to pretrain when it was made{note}.")


def profile_differences(a: str = "cpu", b: str = "gpu") -> list[list[str]]:
    """``[setting, value in a, value in b]`` for every setting the two profiles set differently."""
    from sftrl import config

    fa, fb = config.flat(config.profile(a)), config.flat(config.profile(b))
    return [[k, setting_text(fa[k]), setting_text(fb[k])] for k in fa if k != "profile" and fa[k] != fb[k]]


def profile_table(a: str = "cpu", b: str = "gpu") -> Table:
    """:func:`profile_differences` as a table."""
    return Table(["setting", f"{a} profile", f"{b} profile"], profile_differences(a, b),
                 notes=["Settings are named as papermill parameters and --set take them (section_field)."])


#: the assumptions behind :func:`gpu_estimates`: nothing here is measured, and the page says so
GPU_ASSUMPTIONS: dict[str, float] = {
    "peak_bf16_flops": 989e12,  # an H100 SXM's dense bf16 peak (its data sheet)
    "utilisation": 0.3,  # share of that peak a small model's training reaches (a guess)
    "tokens_per_example": 200,  # chat-template prompt plus JSON answer, Qwen tokenizer (a guess)
    "decode_step_s": 0.03,  # one decoding step of a whole batch of rollouts (a guess)
    "bytes_per_param": 8,  # bf16 weights and gradients, AdamW's two moments in bf16
}


#: parameter counts of hub models the Reproduce page estimates for (from their model cards)
HUB_PARAMS: dict[str, float] = {"Qwen/Qwen2.5-0.5B-Instruct": 0.49e9, "Qwen/Qwen2.5-1.5B-Instruct": 1.54e9}


def gpu_estimates(cfg: StudyConfig, n_params: float | None = None) -> dict[str, float]:
    """Rough memory and time of the gpu profile's main stages, from :data:`GPU_ASSUMPTIONS`.

    ``model_state_gb``: weights, gradients and optimizer states (activations come on top);
    ``sft_minutes``: 6 x parameters x training tokens at the assumed utilisation;
    ``rl_minutes_per_run``: decoding-bound, steps x an episode's tokens (attempts x the
    token budget of one) x one decoding step of the whole batch (the verifier's turns are
    prefilled, not decoded).
    SftrlError when the model's size is unknown.
    """
    a = GPU_ASSUMPTIONS
    n = n_params if n_params is not None else HUB_PARAMS.get(cfg.model.base)
    if n is None:
        raise SftrlError(f"no parameter count known for {cfg.model.base!r}; pass n_params")
    tokens = cfg.sft.steps * cfg.sft.batch_size * a["tokens_per_example"]
    sft_s = 6 * n * tokens / (a["peak_bf16_flops"] * a["utilisation"])
    rl_s = cfg.rl.steps * cfg.rl.attempts * cfg.rl.max_completion_length * a["decode_step_s"]
    return {"n_params": float(n), "model_state_gb": n * a["bytes_per_param"] / 1e9, "sft_minutes": sft_s / 60,
            "rl_minutes_per_run": rl_s / 60, "rl_runs": float(len(cfg.rl_from_steps) * cfg.rl_seeds)}


def estimate_table(cfg: StudyConfig, models: tuple[str, ...] = tuple(HUB_PARAMS)) -> Table:
    """:func:`gpu_estimates` of ``cfg``'s stages for each hub model, one row per model and
    stage: memory of the model state per GPU and minutes on one GPU (estimates, and the
    notes say how they were made)."""
    rows = []
    for model in models:
        e = gpu_estimates(cfg, HUB_PARAMS[model])
        name = f"{model.split('/')[-1]} ({e['n_params'] / 1e9:.2g} B)"
        rows += [[name, f"SFT, {cfg.sft.steps} steps", f"{e['model_state_gb']:.0f}", f"{e['sft_minutes']:.0f}"],
                 [name, f"one RL run, {cfg.rl.steps} steps", f"{e['model_state_gb']:.0f}",
                  f"{e['rl_minutes_per_run']:.0f}"],
                 [name, f"Figure 1's {e['rl_runs']:.0f} RL runs", f"{e['model_state_gb']:.0f}",
                  f"{e['rl_minutes_per_run'] * e['rl_runs']:.0f}"]]
    a = GPU_ASSUMPTIONS
    return Table(["model", "stage", "model state per GPU, GB (estimate)", "minutes on one GPU (estimate)"], rows,
                 notes=["Estimates, not measurements: no GPU was available to this build. Memory is the weights, "
                        f"gradients and AdamW states at {a['bytes_per_param']:g} bytes per parameter, activations "
                        "and the rollouts' KV cache on top. SFT time is 6 x parameters x tokens at "
                        f"{a['utilisation']:.0%} of an H100's bf16 peak, {a['tokens_per_example']:g} tokens per "
                        f"example; RL time is steps x {cfg.rl.attempts} attempts x {cfg.rl.max_completion_length} "
                        f"tokens per attempt x {a['decode_step_s']:g} s per decoding step of the whole batch, "
                        "whatever the model's size (a guess).",
                        "Under a launcher with N GPUs (DDP), each GPU holds the same model state and trains 1/N "
                        "of every batch, so the minutes divide by about N; DeepSpeed ZeRO or FSDP also divide the "
                        "state."])


def gpu_only_table() -> Table:
    """The gpu profile's settings that do nothing on a CPU, and why (:data:`sftrl.config.GPU_ONLY`)."""
    from sftrl import config

    return Table(["setting", "on a CPU"], [[k, v] for k, v in config.GPU_ONLY.items()])
