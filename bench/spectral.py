"""Benchmark of the spectral pass (:func:`sftrl.weights.spectral.compare`) against bare SVDs.

For (a) a pair of checkpoints of the project's default small model (Llama, hidden 128,
FFN 512, 4 layers, 4 heads, vocab 32, untied; random weights) and (b) a synthetic pair with
Qwen2.5-0.5B-sized matrices (hidden 896, FFN 4864, 24 layers, 14 heads / 2 KV heads, vocab
151936, tied embeddings, bf16 on disk like the released model; random weights written as
sharded safetensors), it prints

* the wall time of the whole pass (``compare(base, other)``, cold SVD cache: reading,
  decomposing, caching and the metrics) against the time of bare
  ``torch.linalg.svd(W, full_matrices=False)`` on the same matrices (target: <= 1.4x), and
* the pass's peak RSS against the size of one full model in memory (float32, the dtype
  of the analysis; target: <= 0.25). Each measurement runs in its own subprocess, started
  by a small stdlib-only launcher that reads ``resource.getrusage(RUSAGE_CHILDREN)``:
  a child's ``ru_maxrss`` survives ``exec`` and would otherwise include the (large)
  benchmark process it was forked from.

Usage: ``OMP_NUM_THREADS=1 python bench/spectral.py [--case a|b|both] [--layers 24]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1 << 20


# --------------------------------------------------------------------------------------------
# children: each measures itself; the launcher measures its one child
# --------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM: reset by exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pass(base: str, other: str, cache: str, repeats: int) -> dict:
    from sftrl.weights.spectral import compare

    times, n = [], 0
    for i in range(repeats):
        root = Path(cache) / f"run{i}"  # a fresh, cold cache every time
        t0 = time.perf_counter()
        rows = compare(base, other, k_frac=0.2, device="cpu", cache_root=root)
        times.append(time.perf_counter() - t0)
        n = len(rows)
        shutil.rmtree(root)
    return {"pass_s": statistics.median(times), "all_s": times, "matrices": n, "vmhwm_mb": _peak_rss_mb()}


def child_bare(base: str, other: str, repeats: int) -> dict:
    import torch

    from sftrl.weights.checkpoints import CheckpointReader

    totals = []
    for _ in range(repeats):
        total = 0.0
        for path in (base, other):
            reader = CheckpointReader(path)
            for key in reader.keys():
                W = reader.get(key.name)  # float32; reading is not timed
                t0 = time.perf_counter()
                torch.linalg.svd(W, full_matrices=False)
                total += time.perf_counter() - t0
                del W
        totals.append(total)
    return {"svd_s": statistics.median(totals), "all_s": totals, "vmhwm_mb": _peak_rss_mb()}


def child_imports() -> dict:
    import sftrl.weights.spectral  # noqa: F401  the same imports as the pass

    return {"vmhwm_mb": _peak_rss_mb()}


def launch(args: list[str]) -> dict:
    """(In the small launcher process) run one measured child and add its ru_maxrss."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{res.stderr}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    return out


def run_child(args: list[str]) -> dict:
    """Run a measurement child through a fresh stdlib-only launcher (see the docstring)."""
    res = subprocess.run([sys.executable, __file__, "--launch", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"launcher for {args[0]} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
def make_small_pair(root: Path) -> tuple[Path, Path, int]:
    """(a): the default small model, saved by transformers; other = base + 1% noise."""
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=32, hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=64, tie_word_embeddings=False,
    )
    model = transformers.LlamaForCausalLM(cfg)
    model.save_pretrained(root / "base")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * p.std() * torch.randn_like(p))
    model.save_pretrained(root / "other")
    n_params = sum(p.numel() for p in model.parameters())
    return root / "base", root / "other", n_params


def qwen_shapes(layers: int) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of Qwen2.5-0.5B (tied: no lm_head.weight)."""
    d, ff, vocab, kv = 896, 4864, 151936, 2 * 64
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, d), "model.norm.weight": (d,)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,),
            p + "self_attn.q_proj.weight": (d, d), p + "self_attn.q_proj.bias": (d,),
            p + "self_attn.k_proj.weight": (kv, d), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, d), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (d, d),
            p + "mlp.gate_proj.weight": (ff, d), p + "mlp.up_proj.weight": (ff, d), p + "mlp.down_proj.weight": (d, ff),
        }
    return shapes


def write_sharded(path: Path, shapes: dict[str, tuple[int, ...]], seed: int, noise_seed: int | None,
                  shard_bytes: int = 500 * MB) -> None:
    """Random bf16 weights (std 0.02) as HF-style shards + index; ``noise_seed`` adds 1e-3 noise."""
    import torch
    from safetensors.torch import save_file

    path.mkdir(parents=True)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(noise_seed) if noise_seed is not None else None
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, shape in shapes.items():
        t = torch.randn(shape, generator=gen) * 0.02
        if noise is not None:
            t += 1e-3 * torch.randn(shape, generator=noise)
        t = t.to(torch.bfloat16)
        if size and size + t.numel() * 2 > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += t.numel() * 2
    weight_map, total = {}, 0
    for i, tensors in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(tensors, str(path / fname), metadata={"format": "pt"})
        for name, t in tensors.items():
            weight_map[name] = fname
            total += t.numel() * 2
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
              "intermediate_size": 4864, "num_hidden_layers": sum(1 for n in shapes if n.endswith("q_proj.weight")),
              "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
              "tie_word_embeddings": True, "torch_dtype": "bfloat16"}
    (path / "config.json").write_text(json.dumps(config, indent=2))


def make_qwen_pair(root: Path, layers: int) -> tuple[Path, Path, int]:
    """(b): Qwen2.5-0.5B-sized random pair; other = base + small noise."""
    shapes = qwen_shapes(layers)
    write_sharded(root / "base", shapes, seed=0, noise_seed=None)
    write_sharded(root / "other", shapes, seed=0, noise_seed=1)
    return root / "base", root / "other", sum(math.prod(s) for s in shapes.values())


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------
def bench_case(label: str, base: Path, other: Path, n_params: int, root: Path, repeats: int) -> dict:
    imports = run_child(["imports"])
    passed = run_child(["pass", str(base), str(other), str(root / "cache"), str(repeats)])
    bare = run_child(["bare", str(base), str(other), str(repeats)])
    model_mb = n_params * 4 / MB  # float32, the dtype of the analysis
    rss = passed["ru_maxrss_mb"]
    out = {
        "case": label, "params": n_params, "matrices_per_checkpoint": passed["matrices"], "repeats": repeats,
        "pass_s": passed["pass_s"], "pass_all_s": passed["all_s"], "bare_svd_s": bare["svd_s"],
        "time_ratio": passed["pass_s"] / bare["svd_s"], "time_ratio_min": min(passed["all_s"]) / min(bare["all_s"]),
        "pass_peak_rss_mb": rss, "pass_vmhwm_mb": passed["vmhwm_mb"], "imports_rss_mb": imports["ru_maxrss_mb"],
        "bare_peak_rss_mb": bare["ru_maxrss_mb"], "model_fp32_mb": model_mb, "model_bf16_mb": model_mb / 2,
        "rss_ratio": rss / model_mb,
    }
    print(f"\n== {label}")
    print(f"   {n_params / 1e6:.1f} M parameters, {passed['matrices']} matrices per checkpoint, 2 checkpoints, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}, median of {repeats} run(s)")
    print(f"   spectral pass (compare, cold cache)  {passed['pass_s']:8.2f} s   runs: "
          + ", ".join(f"{t:.2f}" for t in passed["all_s"]))
    print(f"   bare torch.linalg.svd, same matrices {bare['svd_s']:8.2f} s")
    print(f"   time ratio pass / bare SVD           {out['time_ratio']:8.2f}     (target <= 1.4"
          + (f"; best run / best run: {out['time_ratio_min']:.2f})" if repeats > 1 else ")"))
    print(f"   peak RSS of the pass (ru_maxrss)     {rss:8.0f} MB  (python + torch + sftrl imports alone: "
          f"{imports['ru_maxrss_mb']:.0f} MB, so the pass adds {rss - imports['ru_maxrss_mb']:.0f} MB; "
          f"bare-SVD child: {bare['ru_maxrss_mb']:.0f} MB)")
    print(f"   one full model in memory, float32    {model_mb:8.0f} MB  (bf16: {model_mb / 2:.0f} MB)")
    print(f"   RSS ratio pass / model (float32)     {out['rss_ratio']:8.2f}     (target <= 0.25; "
          f"vs the bf16 model: {rss / (model_mb / 2):.2f})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("a", "b", "both"), default="both")
    parser.add_argument("--layers", type=int, default=24, help="layers of the Qwen-sized pair (default: all 24)")
    parser.add_argument("--repeats-small", type=int, default=5, help="runs of case (a) (the median is reported)")
    parser.add_argument("--workdir", default=None, help="where to write the checkpoints (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    results = []
    root = Path(tempfile.mkdtemp(prefix="sftrl-bench-spectral-", dir=args.workdir))
    try:
        if args.case in ("a", "both"):
            base, other, n = make_small_pair(root / "a")
            results.append(bench_case("(a) default small model (Llama 128/512, 4 layers, vocab 32, untied)",
                                      base, other, n, root / "a", args.repeats_small))
        if args.case in ("b", "both"):
            t0 = time.perf_counter()
            base, other, n = make_qwen_pair(root / "b", args.layers)
            note = "" if args.layers == 24 else f"; ONLY {args.layers} of the 24 layers"
            print(f"\n(wrote the Qwen-sized pair in {time.perf_counter() - t0:.0f} s{note})")
            results.append(bench_case(f"(b) Qwen2.5-0.5B-sized matrices (896/4864, vocab 151936, tied, bf16 on disk{note})",
                                      base, other, n, root / "b", 1))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--launch":
        print(json.dumps(launch(sys.argv[2:])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "imports":
            result = child_imports()
        elif kind == "pass":
            result = child_pass(rest[0], rest[1], rest[2], int(rest[3]))
        else:
            result = child_bare(rest[0], rest[1], int(rest[2]))
        print(json.dumps(result))
    else:
        main()
