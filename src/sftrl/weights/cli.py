"""The ``spectra`` command: per-matrix spectral comparison of checkpoints.

For a base checkpoint and one or more others (any folders written by transformers'
``save_pretrained``, sharded or not), prints one row per weight matrix: spectral drift,
mean |delta-sigma|/sigma and the largest / mean principal angle between the top-k left and
right singular subspaces (see :func:`sftrl.weights.spectral.compare`). A progress bar goes to
stderr; ``--out`` also writes the table as CSV. SVDs are cached under ``paths.CACHE``.

Usage: ``python -m sftrl spectra BASE OTHER [OTHER ...] --k-frac 0.2 --kinds q,k,v --out table.csv``
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from sftrl.weights.checkpoints import CheckpointReader, check_comparable, parse_kinds, select_keys
from sftrl.errors import SftrlError
from sftrl.weights.spectral import check_k_frac, compare, resolve_device

#: columns of the printed table and the CSV: (header, row key, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("other", "other", "{}"),
    ("layer", "layer", "{}"),
    ("type", "kind", "{}"),
    ("shape", "shape", "{}"),
    ("k", "k", "{}"),
    ("drift", "spectral_drift", "{:.3e}"),
    ("mean|dS|/S", "mean_rel_dsigma", "{:.3e}"),
    ("max_angle_U", "max_angle_u", "{:.2f}"),
    ("mean_angle_U", "mean_angle_u", "{:.2f}"),
    ("max_angle_V", "max_angle_v", "{:.2f}"),
    ("mean_angle_V", "mean_angle_v", "{:.2f}"),
)


def parse_layers(text: str | None) -> tuple[int, ...] | None:
    """``"0,2,3"`` -> ``(0, 2, 3)``; ``None``/empty -> ``None`` (every layer)."""
    if not text:
        return None
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise SftrlError(f"--layers must be comma-separated integers, got {text!r}") from None


def _cell(row: dict, key: str, fmt: str) -> str:
    value = row[key]
    if value is None:
        return "-"
    if key == "shape":
        return "x".join(str(d) for d in value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return fmt.format(value)


def format_table(rows: list[dict]) -> str:
    """Rows of :func:`compare` (with an ``other`` entry) as an aligned text table."""
    cells = [[h for h, _, _ in COLUMNS]] + [[_cell(r, k, f) for _, k, f in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip() for line in cells)


def write_csv(rows: list[dict], path: Path) -> None:
    """Rows as CSV with the table's headers (full precision; empty layer for embed/lm_head)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([h for h, _, _ in COLUMNS])
        for r in rows:
            w.writerow(["" if r[k] is None else ("x".join(map(str, r[k])) if k == "shape" else r[k]) for _, k, _ in COLUMNS])


def run_spectra(args: argparse.Namespace) -> int:
    """Handler of ``spectra``: validate everything, then compare base with each other."""
    k_frac = check_k_frac(args.k_frac)
    kinds = parse_kinds(args.kinds)
    layers = parse_layers(args.layers)
    dtype = torch.float64 if args.float64 else torch.float32
    resolve_device(args.device)
    if args.out is not None and Path(args.out).suffix.lower() != ".csv":
        raise SftrlError(f"--out must name a .csv file, got {args.out}")
    base = CheckpointReader(args.base)
    others = [CheckpointReader(p) for p in args.others]
    for other in others:  # every mismatch is reported before the first SVD
        check_comparable(base, other)
    keys = select_keys(base.keys(), kinds=kinds, layers=layers, num_layers=base.num_layers)
    if not keys:
        raise SftrlError(f"no matrices of kinds {args.kinds} in {base.path}")
    rows: list[dict] = []
    with tqdm(total=len(keys) * len(others), desc="spectra", unit="matrix", file=sys.stderr, disable=args.quiet) as bar:
        for path, other in zip(args.others, others):
            for row in compare(base, other, k_frac=k_frac, kinds=kinds, layers=layers, dtype=dtype,
                               device=args.device, progress=lambda key: bar.update(1)):
                rows.append({"other": path, **row})
    print(format_table(rows))
    if args.out is not None:
        write_csv(rows, Path(args.out))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``spectra`` with the ``python -m sftrl`` dispatcher."""
    p = subparsers.add_parser(
        "spectra",
        help="per-matrix spectral drift, |dS|/S and principal angles between checkpoints",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("base", help="reference checkpoint folder (e.g. the base model)")
    p.add_argument("others", nargs="+", metavar="OTHER", help="checkpoint folder(s) to compare with BASE")
    p.add_argument("--k-frac", type=float, default=0.2, help="top-k as a fraction of each matrix's rank (default 0.2)")
    p.add_argument("--kinds", default=None, help="comma-separated matrix types: embed,q,k,v,o,gate,up,down,lm_head (default all)")
    p.add_argument("--layers", default=None, help="comma-separated layer indices (default all)")
    p.add_argument("--out", default=None, metavar="PATH.csv", help="also write the table as CSV")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--float64", action="store_true", help="decompose in float64 instead of float32")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_spectra)
