"""Benchmark of ``python -m sftrl masks``: wall time and peak memory against the model's size.

On the synthetic Qwen2.5-0.5B-sized checkpoints of ``bench/spectral.py`` (bf16 on disk,
sharded, tied embeddings; random weights), a base and two runs (the base plus independent
noise), it runs the command once with the spectral drift (``--no-drift`` off: two SVDs per
matrix and run, cold cache) and once without, each in its own measured child, and reports
the wall time and the peak RSS against one model in float32; a third run leaves out the
embedding (``--kinds`` of the block matrices). The command reads one matrix at a time, so
its memory follows the largest matrix (the 151936 x 896 embedding), not the model. Each measurement runs in a fresh child through ``bench/spectral.py``'s stdlib-only
launcher, so the peak is the command's own.

Usage: ``OMP_NUM_THREADS=2 python bench/masks.py [--layers 24] [--json bench/results/masks.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spectral as spectral_bench  # noqa: E402  the checkpoints and the launcher's protocol

MB = spectral_bench.MB


def child(args: list[str]) -> dict:
    """(In the measured child) run the command in-process and time it."""
    from sftrl.cli import main

    t0 = time.perf_counter()
    code = main(["masks", *args, "--quiet"])
    return {"code": code, "wall_s": time.perf_counter() - t0, "vmhwm_mb": spectral_bench._peak_rss_mb()}


def launch(args: list[str]) -> dict:
    """(In the launcher) run one child and add its ru_maxrss."""
    res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"masks child failed:\n{res.stderr[-2000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def measured(args: list[str]) -> dict:
    res = subprocess.run([sys.executable, __file__, "--launch", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    from sftrl.provenance import record

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=24, help="layers of the Qwen-sized checkpoints (default: all 24)")
    parser.add_argument("--workdir", default=None, help="where to write the checkpoints (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sftrl-bench-masks-", dir=args.workdir))
    try:
        shapes = spectral_bench.qwen_shapes(args.layers)
        spectral_bench.write_sharded(root / "base", shapes, seed=0, noise_seed=None)
        spectral_bench.write_sharded(root / "run1", shapes, seed=0, noise_seed=1)
        spectral_bench.write_sharded(root / "run2", shapes, seed=0, noise_seed=2)
        n_params = sum(math.prod(s) for s in shapes.values())
        model_mb = n_params * 4 / MB
        common = [str(root / "base"), str(root / "run1"), str(root / "run2"), "--device", "cpu"]
        results = {"case": f"Qwen2.5-0.5B-sized, {args.layers} layers, bf16 on disk, base + 2 runs",
                   "params": n_params, "model_fp32_mb": model_mb,
                   "threads": os.environ.get("OMP_NUM_THREADS", ""), "provenance": record("sftrl.weights.masks_report")}
        env_cache = root / "data"
        os.environ["SFTRL_DATA"] = str(env_cache)  # the SVD cache, cold for each measurement
        blocks = ["--kinds", "q,k,v,o,gate,up,down"]
        for label, extra in (("no drift", ["--no-drift"]), ("with drift, cold SVD cache", []),
                             ("block matrices only, no drift", [*blocks, "--no-drift"])):
            out = measured([*common, *extra])
            shutil.rmtree(env_cache, ignore_errors=True)
            out["rss_ratio"] = out["ru_maxrss_mb"] / model_mb
            results[label] = out
            print(f"masks, {label:28s} {out['wall_s']:8.1f} s   peak RSS {out['ru_maxrss_mb']:7.0f} MB "
                  f"= {out['rss_ratio']:.2f} x one model in float32 ({model_mb:.0f} MB)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--launch":
        print(json.dumps(launch(sys.argv[2:])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2:])))
    else:
        main()
