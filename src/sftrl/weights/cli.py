"""The weight-analysis commands: ``spectra`` and ``masks``, for any checkpoints.

Both take a base checkpoint and one or more descendants (any folder written by
transformers' ``save_pretrained``, sharded or not, or a Hugging Face hub id), read one
matrix at a time, print one row per weight matrix with a progress bar on stderr, and with
``--out`` also write the table as CSV. SVDs are cached under ``paths.CACHE``.

- ``spectra``: spectral drift, mean |delta-sigma|/sigma and the largest / mean principal
  angle between the top-k left and right singular subspaces
  (:func:`sftrl.weights.spectral.compare`; arXiv 2509.12235).
- ``masks``: paper B's questions (arXiv 2511.08567, :mod:`sftrl.weights.masks_report`):
  update sparsity in the bitwise and the tolerance form, principal and low-magnitude
  overlap beside chance, spectral drift, and, for two or more runs, consistency against
  the independence baseline; ``--image LAYER.TYPE PATH.png`` draws one matrix's
  consistency image.

Usage::

    python -m sftrl spectra BASE OTHER [OTHER ...] --k-frac 0.2 --kinds q,k,v --out table.csv
    python -m sftrl masks BASE RUN1 [RUN2 ...] --by kind --image 12.o o.png --out masks.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from sftrl.errors import SftrlError
from sftrl.weights import masks_report
from sftrl.weights.checkpoints import KINDS, check_comparable, parse_kinds, select_keys
from sftrl.weights.spectral import check_k_frac, compare, resolve_device

#: a table's columns: (header, row key, format)
Columns = tuple[tuple[str, str, str], ...]

#: ``spectra``'s table
SPECTRA_COLUMNS: Columns = (
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

#: ``masks``' table of each run against the base (:class:`masks_report.RunRow`)
MASKS_COLUMNS: Columns = (
    ("run", "run", "{}"),
    ("layer", "layer", "{}"),
    ("type", "kind", "{}"),
    ("shape", "shape", "{}"),
    ("sparsity", "sparsity", "{:.4f}"),
    ("sparsity@eta", "sparsity_eta", "{:.4f}"),
    ("principal", "principal", "{:.4f}"),
    ("low", "low", "{:.4f}"),
    ("chance", "density", "{:.4f}"),
    ("drift", "drift", "{:.3e}"),
    ("max_angle_U", "angle", "{:.2f}"),
)

#: ``masks``' table across the runs (:class:`sftrl.weights.masks.ConsistencyRow`)
CONSISTENCY_COLUMNS: Columns = (
    ("layer", "layer", "{}"),
    ("type", "kind", "{}"),
    ("in_all", "in_all", "{:.4f}"),
    ("in_all_chance", "in_all_expected", "{:.4f}"),
    ("jaccard", "jaccard", "{:.4f}"),
    ("jaccard_chance", "jaccard_expected", "{:.4f}"),
)

#: how far ``masks --by`` merges the rows
GROUPINGS = ("matrix", "layer", "kind")


def parse_layers(text: str | None) -> tuple[int, ...] | None:
    """``"0,2,3"`` -> ``(0, 2, 3)``; ``None``/empty -> ``None`` (every layer)."""
    if not text:
        return None
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise SftrlError(f"--layers must be comma-separated integers, got {text!r}") from None


def parse_matrix(text: str) -> tuple[int, str]:
    """``"12.o"`` -> ``(12, "o")``: a block matrix named as LAYER.TYPE."""
    layer, _, kind = text.partition(".")
    try:
        return int(layer), kind
    except ValueError:
        raise SftrlError(f"--image must name a matrix as LAYER.TYPE (e.g. 12.o), got {text!r}") from None


def check_suffix(option: str, path: str | None, suffix: str) -> Path | None:
    """``path`` as a Path, or SftrlError naming ``option`` when it does not end in ``suffix``."""
    if path is None:
        return None
    if Path(path).suffix.lower() != suffix:
        raise SftrlError(f"{option} must name a {suffix} file, got {path}")
    return Path(path)


def _cell(row: dict, key: str, fmt: str) -> str:
    value = row[key]
    if value is None:
        return "-"
    if key == "shape":
        return "x".join(str(d) for d in value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return fmt.format(value)


def format_table(rows: Sequence[dict], columns: Columns = SPECTRA_COLUMNS) -> str:
    """Row dicts as an aligned text table: the first three columns left, the rest right."""
    cells = [[h for h, _, _ in columns]] + [[_cell(r, k, f) for _, k, f in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip() for line in cells)


def write_csv(rows: Sequence[dict], path: Path, columns: Columns = SPECTRA_COLUMNS) -> None:
    """Row dicts as CSV with the table's headers (full precision; empty for no value)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([h for h, _, _ in columns])
        for r in rows:
            w.writerow(["" if r[k] is None else ("x".join(map(str, r[k])) if k == "shape" else r[k]) for _, k, _ in columns])


def run_spectra(args: argparse.Namespace) -> int:
    """Handler of ``spectra``: validate everything, then compare base with each other."""
    k_frac = check_k_frac(args.k_frac)
    kinds = parse_kinds(args.kinds)
    layers = parse_layers(args.layers)
    dtype = torch.float64 if args.float64 else torch.float32
    resolve_device(args.device)
    out = check_suffix("--out", args.out, ".csv")
    base = masks_report.open_checkpoint(args.base)
    others = [masks_report.open_checkpoint(p) for p in args.others]
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
    if out is not None:
        write_csv(rows, out)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def consistency_csv(out: Path) -> Path:
    """Where ``masks --out PATH.csv`` writes the across-runs table: ``PATH.consistency.csv``."""
    return out.with_suffix(".consistency.csv")


def _save_image(image, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6 * image.shape[0] / max(image.shape[1], 1) + 0.8), layout="constrained")
    im = ax.imshow(image, cmap="magma", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set(title=title, xlabel="input feature (column)", ylabel="output unit (row)")
    fig.colorbar(im, ax=ax, label="share of runs that updated the entry", shrink=0.8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_masks(args: argparse.Namespace) -> int:
    """Handler of ``masks``: validate everything, then stream every matrix once."""
    image = None
    if args.image is not None:
        image = (parse_matrix(args.image[0]), check_suffix("--image", args.image[1], ".png"))
    settings = masks_report.Settings(
        eta=args.eta, alpha=args.alpha, k_frac=args.k_frac, kinds=parse_kinds(args.kinds),
        layers=parse_layers(args.layers), drift=not args.no_drift, image=image[0] if image else None,
    )
    out = check_suffix("--out", args.out, ".csv")
    resolve_device(args.device)
    base = masks_report.open_checkpoint(args.base)
    runs = [masks_report.open_checkpoint(p) for p in args.runs]
    keys = masks_report.plan(base, runs, settings)  # every check, before the first weight
    with tqdm(total=len(keys), desc="masks", unit="matrix", file=sys.stderr, disable=args.quiet) as bar:
        result = masks_report.report(base, runs, settings=settings, labels=args.runs, device=args.device,
                                     progress=lambda key: bar.update(1))
    run_rows = [r._asdict() for r in result.runs]
    cons_rows = [r._asdict() for r in result.consistency]
    if args.by != "matrix":
        run_rows = masks_report.by_group(result.runs, args.by)
        cons_rows = masks_report.by_group(result.consistency, args.by)
    print(f"update masks against {args.base} (bitwise bf16; sparsity@eta: |w'-w| > {settings.eta:g} max|w|;"
          f" principal / low: share of each region updated, chance = update density)")
    print(format_table(run_rows, MASKS_COLUMNS))
    if cons_rows:
        print(f"\nconsistency across {len(args.runs)} runs (chance: independent masks of the runs' densities)")
        print(format_table(cons_rows, CONSISTENCY_COLUMNS))
    if out is not None:
        write_csv(run_rows, out, MASKS_COLUMNS)
        print(f"wrote {out}", file=sys.stderr)
        if cons_rows:
            write_csv(cons_rows, consistency_csv(out), CONSISTENCY_COLUMNS)
            print(f"wrote {consistency_csv(out)}", file=sys.stderr)
    if image is not None:
        (layer, kind), path = image
        what = "update consistency" if len(args.runs) >= 2 else "update mask"
        _save_image(result.image, path, f"{what} of layer {layer} {kind}, {len(args.runs)} run(s)")
        print(f"wrote {path}", file=sys.stderr)
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``spectra`` and ``masks`` with the ``python -m sftrl`` dispatcher."""
    p = subparsers.add_parser(
        "spectra",
        help="per-matrix spectral drift, |dS|/S and principal angles between checkpoints",
        description="Per-matrix spectral drift, mean |dS|/S and principal angles (arXiv 2509.12235).",
    )
    p.add_argument("base", metavar="BASE", help="reference checkpoint: a folder or a hub id (e.g. the base model)")
    p.add_argument("others", nargs="+", metavar="OTHER", help="checkpoint(s) to compare with BASE")
    p.add_argument("--k-frac", type=float, default=0.2, help="top-k as a fraction of each matrix's rank (default 0.2)")
    _filters(p)
    p.add_argument("--float64", action="store_true", help="decompose in float64 instead of float32")
    p.set_defaults(func=run_spectra)

    d = masks_report.Settings()
    m = subparsers.add_parser(
        "masks",
        help="paper B's update sparsity, consistency, principal overlap and drift for any checkpoints",
        description="Where fine-tuning wrote (arXiv 2511.08567): update sparsity (bitwise and tolerance "
                    "form), principal and low-magnitude overlap beside chance, spectral drift, and the "
                    "consistency of two or more runs from BASE against the independence baseline.",
    )
    m.add_argument("base", metavar="BASE", help="the checkpoint every run started from: a folder or a hub id")
    m.add_argument("runs", nargs="+", metavar="RUN", help="fine-tuned checkpoint(s) of BASE")
    m.add_argument("--eta", type=float, default=d.eta,
                   help=f"tolerance form: updated if |w'-w| > eta max(|w|,|w'|) in bf16 (default {d.eta:g})")
    m.add_argument("--alpha", type=float, default=d.alpha,
                   help=f"fraction of a matrix in its principal and low-magnitude regions (default {d.alpha:g})")
    m.add_argument("--k-frac", type=float, default=d.k_frac,
                   help=f"rank of the principal reconstruction and top-k of the drift, as a fraction of "
                        f"each matrix's rank (default {d.k_frac:g})")
    m.add_argument("--by", choices=GROUPINGS, default="matrix",
                   help="one row per matrix (default), or merged per layer or per type")
    m.add_argument("--image", nargs=2, metavar=("LAYER.TYPE", "PATH.png"), default=None,
                   help="write the consistency image of one block matrix, e.g. --image 12.o o.png")
    m.add_argument("--no-drift", action="store_true", help="skip the spectral drift (no SVDs of the runs)")
    _filters(m)
    m.set_defaults(func=run_masks)


def _filters(p: argparse.ArgumentParser) -> None:
    """The options ``spectra`` and ``masks`` share."""
    p.add_argument("--kinds", default=None, help=f"comma-separated matrix types: {','.join(KINDS)} (default all)")
    p.add_argument("--layers", default=None, help="comma-separated layer indices (default all)")
    p.add_argument("--out", default=None, metavar="PATH.csv", help="also write the table as CSV")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
