"""Read a Hugging Face checkpoint one weight matrix at a time, straight from safetensors.

The spectral analysis never loads a model: it opens the checkpoint's ``*.safetensors`` files
(a single ``model.safetensors`` or shards listed in ``model.safetensors.index.json``) and
reads one tensor, or one block of rows of a tensor, at a time. Tensors stored as bf16, fp16
or fp32 come back as float32 (float64 on request).

Each 2-D weight of a Llama/Qwen2-style model gets a :class:`MatrixKey` ``(name, layer, kind)``:

==========================================  =========  ===========
tensor name                                 layer      kind
==========================================  =========  ===========
``model.layers.{i}.self_attn.q_proj.weight`` ``i``      ``q`` (``k``, ``v``, ``o`` alike)
``model.layers.{i}.mlp.gate_proj.weight``    ``i``      ``gate`` (``up``, ``down`` alike)
``model.embed_tokens.weight``                ``None``   ``embed``
``lm_head.weight``                           ``None``   ``lm_head``
==========================================  =========  ===========

1-D tensors (norms, biases) are not matrices, and 2-D tensors with other names are not
analysed. Tied input/output embeddings are reported by :attr:`CheckpointReader.tied`, never
silently duplicated: a tied checkpoint has an ``embed`` key and no ``lm_head`` key.

``safetensors.safe_open`` lists the files (names, shapes, dtypes); the bytes of a tensor
are then read with positioned reads (:class:`SafetensorsFile`) into a fresh buffer. Tensors
from ``safe_open`` are backed by a memory map whose touched pages stay resident (and count
in the process's RSS) while the mapping lives: reading a 150k-token embedding in row blocks
that way was measured to grow RSS by more than the embedding itself.

Usage: ``reader = CheckpointReader(path); W = reader.get(reader.keys()[0].name)  # (d_out, d_in)``
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from sftrl.errors import SftrlError

#: the matrix kinds inside a transformer block, in the order they are listed
BLOCK_KINDS: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")
#: every matrix kind the analysis knows
KINDS: tuple[str, ...] = ("embed", *BLOCK_KINDS, "lm_head")
#: the single-file and sharded weight layouts written by ``save_pretrained``
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
#: safetensors dtypes that can be read as floating-point weights
FLOAT_DTYPES = ("BF16", "F16", "F32", "F64")

_BLOCK_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj\.weight$")
_EMBED_RE = re.compile(r"(?:^|\.)embed_tokens\.weight$")
_LM_HEAD_RE = re.compile(r"^lm_head\.weight$")


@dataclass(frozen=True)
class MatrixKey:
    """One analysable weight matrix of a checkpoint."""

    name: str  #: the tensor's name in the safetensors files
    layer: int | None  #: transformer block index, ``None`` for embed / lm_head
    kind: str  #: one of :data:`KINDS`

    @property
    def label(self) -> str:
        """Short name for tables and plots, e.g. ``L3.q`` or ``embed``."""
        return self.kind if self.layer is None else f"L{self.layer}.{self.kind}"

    def sort_key(self) -> tuple[int, int, int]:
        """embed first, then blocks in layer order (q, k, v, o, gate, up, down), lm_head last."""
        if self.kind == "embed":
            return (0, 0, 0)
        if self.kind == "lm_head":
            return (2, 0, 0)
        return (1, self.layer or 0, BLOCK_KINDS.index(self.kind))


def parse_matrix_name(name: str) -> MatrixKey | None:
    """The :class:`MatrixKey` of a tensor name, or ``None`` if it is not an analysed matrix."""
    if m := _BLOCK_RE.search(name):
        return MatrixKey(name, int(m.group(1)), m.group(2))
    if _EMBED_RE.search(name):
        return MatrixKey(name, None, "embed")
    if _LM_HEAD_RE.search(name):
        return MatrixKey(name, None, "lm_head")
    return None


#: safetensors dtype names -> torch dtypes (the ones sftrl reads or writes)
ST_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


class SafetensorsFile:
    """Positioned reads of a tensor, or of a block of its rows, from one ``.safetensors`` file.

    Parses the header (8-byte little-endian length, JSON) once; :meth:`read` then reads
    exactly the requested bytes into a new tensor, with no memory map left behind.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
                if not 0 < n < 1 << 30:
                    raise ValueError(f"header length {n}")
                header = json.loads(f.read(n))
        except (OSError, ValueError) as exc:
            raise SftrlError(f"{self.path} is not a readable safetensors file ({exc})") from None
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self._data_start = 8 + n
        self._entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {
            name: (e["dtype"], tuple(e["shape"]), *e["data_offsets"]) for name, e in header.items()
        }

    def keys(self) -> list[str]:
        return list(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entries[name][1]

    def dtype(self, name: str) -> str:
        return self._entries[name][0]

    def read(self, name: str, start: int | None = None, stop: int | None = None, *,
             out: torch.Tensor | None = None) -> torch.Tensor:
        """Tensor ``name`` (rows ``start:stop`` of its first dimension) in its stored dtype.

        ``out``, a contiguous tensor of the stored dtype and the right size, is filled and
        returned instead of a new tensor (streaming loops reuse one buffer).
        """
        if sys.byteorder != "little":  # safetensors is little-endian
            raise SftrlError("reading safetensors needs a little-endian machine")
        st_dtype, shape, begin, end = self._entries[name]
        if st_dtype not in ST_DTYPES:
            raise SftrlError(f"tensor {name} in {self.path} has unsupported dtype {st_dtype}")
        rows = shape[0] if shape else 1
        a = 0 if start is None else max(0, start)
        b = rows if stop is None else min(rows, stop)
        row_bytes = (end - begin) // rows if rows else 0
        want = ((max(0, b - a),) + tuple(shape[1:])) if shape else ()
        if out is None:
            out = torch.empty(want, dtype=ST_DTYPES[st_dtype])
        elif out.dtype != ST_DTYPES[st_dtype] or not out.is_contiguous() or out.numel() != math.prod(want):
            raise ValueError(f"out buffer {tuple(out.shape)} {out.dtype} does not fit {want} {st_dtype}")
        view = memoryview(out.view(torch.uint8).reshape(-1).numpy()) if out.numel() else memoryview(b"")
        with open(self.path, "rb", buffering=0) as f:
            f.seek(self._data_start + begin + a * row_bytes)
            done = 0
            while done < len(view):  # a raw read may return fewer bytes than asked
                got = f.readinto(view[done:])
                if not got:
                    raise SftrlError(f"{self.path} is truncated (tensor {name})")
                done += got
        return out


def analysis_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """float32 or float64 (the dtypes the analysis runs in); SftrlError otherwise."""
    if dtype in (torch.float32, "float32"):
        return torch.float32
    if dtype in (torch.float64, "float64"):
        return torch.float64
    raise SftrlError(f"unsupported analysis dtype {dtype!r} (use float32 or float64)")


class CheckpointReader:
    """Lazy, read-only view of a checkpoint folder's safetensors weights.

    Nothing but the headers is read on construction; :meth:`get`, :meth:`get_rows` and
    :meth:`read_rows_into` read one tensor (or a block of its rows) per call with
    positioned reads, so the process never holds more than what it asked for.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise SftrlError(f"checkpoint folder not found: {path}")
        self._file_of: dict[str, Path] = self._weight_map()
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._dtypes: dict[str, str] = {}
        self._files: dict[Path, SafetensorsFile] = {}
        for file in sorted(set(self._file_of.values())):
            self._files[file] = SafetensorsFile(file)
            with safe_open(file, framework="pt") as f:
                for name in f.keys():
                    if name not in self._file_of:
                        continue  # not listed in the index: transformers would not load it either
                    sl = f.get_slice(name)
                    self._shapes[name] = tuple(int(d) for d in sl.get_shape())
                    self._dtypes[name] = str(sl.get_dtype())
        missing = sorted(set(self._file_of) - set(self._shapes))
        if missing:
            raise SftrlError(f"tensor {missing[0]} is listed in {INDEX_FILE} but missing from its shard in {self.path}")
        self._config = self._read_config()
        self.tied = self._is_tied()
        keys = (parse_matrix_name(n) for n in self._shapes if len(self._shapes[n]) == 2)
        self._keys = sorted(
            (k for k in keys if k is not None and not (self.tied and k.kind == "lm_head")),
            key=MatrixKey.sort_key,
        )

    # -- layout -----------------------------------------------------------------------------
    def _weight_map(self) -> dict[str, Path]:
        index = self.path / INDEX_FILE
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (ValueError, KeyError) as exc:
                raise SftrlError(f"unreadable {index}: {exc}") from None
            files = {n: self.path / f for n, f in weight_map.items()}
            absent = sorted({str(p) for p in files.values() if not p.is_file()})
            if absent:
                raise SftrlError(f"shard {absent[0]} listed in {index} is missing")
            return files
        single = self.path / SINGLE_FILE
        if single.is_file():
            with safe_open(single, framework="pt") as f:
                return {n: single for n in f.keys()}
        others = sorted(p.name for p in self.path.glob("*.bin")) + sorted(p.name for p in self.path.glob("*.safetensors"))
        hint = f" (found {others[0]}; re-save it with save_pretrained)" if others else ""
        raise SftrlError(f"no {SINGLE_FILE} or {INDEX_FILE} in {self.path}{hint}")

    def _read_config(self) -> dict:
        cfg = self.path / "config.json"
        if not cfg.is_file():
            return {}
        try:
            return json.loads(cfg.read_text())
        except ValueError as exc:
            raise SftrlError(f"unreadable {cfg}: {exc}") from None

    def _is_tied(self) -> bool:
        # A checkpoint without lm_head.weight can only work tied; with it, an explicit
        # tie_word_embeddings=True still makes transformers ignore the stored copy.
        if not any(_EMBED_RE.search(n) for n in self._shapes):
            return False
        text_config = self._config.get("text_config") or {}
        flag = self._config.get("tie_word_embeddings", text_config.get("tie_word_embeddings"))
        if "lm_head.weight" not in self._shapes:
            return flag is not False
        return flag is True

    def config(self) -> dict:
        """The checkpoint's ``config.json`` as a dict (empty if there is none)."""
        return dict(self._config)

    def names(self) -> list[str]:
        """Every tensor name in the checkpoint, sorted."""
        return sorted(self._shapes)

    def keys(self) -> list[MatrixKey]:
        """The analysable matrices: embed, blocks in layer order, lm_head (if untied)."""
        return list(self._keys)

    def key(self, kind: str, layer: int | None = None) -> MatrixKey:
        """The matrix of ``kind`` (in ``layer`` for block kinds); SftrlError if absent."""
        for k in self._keys:
            if k.kind == kind and k.layer == layer:
                return k
        where = f" in layer {layer}" if layer is not None else ""
        raise SftrlError(f"no {kind!r} matrix{where} in {self.path}" + (" (tied embeddings)" if kind == "lm_head" and self.tied else ""))

    @property
    def num_layers(self) -> int:
        """Number of transformer blocks (1 + the largest layer index seen)."""
        layers = [k.layer for k in self._keys if k.layer is not None]
        return max(layers) + 1 if layers else 0

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of tensor ``name`` as stored."""
        self._check_name(name)
        return self._shapes[name]

    def dtype(self, name: str) -> str:
        """safetensors dtype string of tensor ``name`` (``"BF16"``, ``"F32"``, ...)."""
        self._check_name(name)
        return self._dtypes[name]

    def file_of(self, name: str) -> Path:
        """The safetensors file that holds tensor ``name``."""
        self._check_name(name)
        return self._file_of[name]

    def weight_files(self) -> list[Path]:
        """The safetensors files (plus the index, if sharded), sorted."""
        files = sorted(set(self._file_of.values()))
        index = self.path / INDEX_FILE
        return [*files, index] if index.is_file() else files

    # -- reading ----------------------------------------------------------------------------
    def _check_name(self, name: str) -> None:
        if name not in self._shapes:
            raise SftrlError(f"tensor {name} not found in {self.path}")

    def _check_float(self, name: str) -> None:
        if self._dtypes[name] not in FLOAT_DTYPES:
            raise SftrlError(f"tensor {name} has dtype {self._dtypes[name]}, not a float weight")

    def get(self, name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Tensor ``name`` as ``dtype`` (float32 by default, float64 on request)."""
        self._check_name(name)
        self._check_float(name)
        return self._files[self._file_of[name]].read(name).to(analysis_dtype(dtype))

    def get_raw(self, name: str) -> torch.Tensor:
        """Tensor ``name`` in its on-disk dtype (for copying it unchanged)."""
        self._check_name(name)
        return self._files[self._file_of[name]].read(name)

    def get_rows(self, name: str, start: int, stop: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Rows ``start:stop`` of 2-D tensor ``name`` without reading the rest of it."""
        self._check_name(name)
        self._check_float(name)
        return self._files[self._file_of[name]].read(name, start, stop).to(analysis_dtype(dtype))

    def read_rows_into(self, name: str, start: int, stop: int, out: torch.Tensor,
                       scratch: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Fill ``out`` (stop - start, n), any float dtype, with rows ``start:stop`` of ``name``.

        A conversion (bf16 on disk, float32 ``out``) goes through ``scratch["raw"]``, kept
        and reused across calls when a dict is passed: a streaming loop then allocates its
        buffers once instead of once per block.
        """
        self._check_name(name)
        self._check_float(name)
        file = self._files[self._file_of[name]]
        disk = ST_DTYPES[self._dtypes[name]]
        if disk == out.dtype and out.is_contiguous():
            return file.read(name, start, stop, out=out)
        raw = None if scratch is None else scratch.get("raw")
        if raw is None or raw.dtype != disk or raw.numel() < out.numel():
            raw = torch.empty(out.numel(), dtype=disk)
            if scratch is not None:
                scratch["raw"] = raw
        return out.copy_(file.read(name, start, stop, out=raw[: out.numel()].view(out.shape)))


def matrix_keys(path: str | Path) -> list[MatrixKey]:
    """The analysable matrices of the checkpoint at ``path``."""
    return CheckpointReader(path).keys()


def as_reader(checkpoint: str | Path | CheckpointReader) -> CheckpointReader:
    """Accept a path or an open reader."""
    return checkpoint if isinstance(checkpoint, CheckpointReader) else CheckpointReader(checkpoint)


_LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def _model_order(name: str) -> tuple[int, int, str]:
    """Embedding, then layers in numeric order, then the rest (so errors name the first)."""
    if _EMBED_RE.search(name):
        return (0, 0, name)
    if m := _LAYER_RE.search(name):
        return (1, int(m.group(1)), name)
    return (2, 0, name)


def check_comparable(a: str | Path | CheckpointReader, b: str | Path | CheckpointReader) -> None:
    """Raise SftrlError naming the first difference in tensor names or shapes of two checkpoints.

    Called before any SVD, so a user comparing different architectures learns it at once.
    """
    ra, rb = as_reader(a), as_reader(b)
    if ra.tied != rb.tied:
        tied, untied = (ra, rb) if ra.tied else (rb, ra)
        raise SftrlError(f"{tied.path} has tied embeddings but {untied.path} does not (lm_head.weight)")
    skip = {"lm_head.weight"} if ra.tied else set()
    names_a, names_b = set(ra.names()) - skip, set(rb.names()) - skip
    for name in sorted(names_a | names_b, key=_model_order):
        if name not in names_b:
            raise SftrlError(f"tensor {name} of {ra.path} is missing from {rb.path}")
        if name not in names_a:
            raise SftrlError(f"tensor {name} of {rb.path} is missing from {ra.path}")
        if ra.shape(name) != rb.shape(name):
            raise SftrlError(
                f"tensor {name} has shape {ra.shape(name)} in {ra.path} but {rb.shape(name)} in {rb.path}"
            )


def select_keys(
    keys: Sequence[MatrixKey],
    *,
    kinds: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    num_layers: int | None = None,
) -> list[MatrixKey]:
    """Filter ``keys`` by kind and layer, naming an unknown kind or out-of-range layer.

    ``layers`` restricts only the block kinds; embed / lm_head pass if their kind is chosen.
    """
    kinds_t = tuple(KINDS if kinds is None else kinds)
    for kind in kinds_t:
        if kind not in KINDS:
            raise SftrlError(f"unknown matrix kind {kind!r} (known: {', '.join(KINDS)})")
    n = num_layers if num_layers is not None else 1 + max((k.layer for k in keys if k.layer is not None), default=-1)
    layers_t = None if layers is None else tuple(layers)
    for layer in layers_t or ():
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n:
            raise SftrlError(f"layer {layer!r} out of range (the checkpoint has layers 0..{n - 1})")
    return [
        k for k in keys
        if k.kind in kinds_t and (k.layer is None or layers_t is None or k.layer in layers_t)
    ]


def parse_kinds(text: str | None) -> tuple[str, ...] | None:
    """``"q,k,down"`` -> ``("q", "k", "down")``, validated; ``None``/empty -> ``None`` (all)."""
    if not text:
        return None
    kinds = tuple(t.strip() for t in text.split(",") if t.strip())
    for kind in kinds:
        if kind not in KINDS:
            raise SftrlError(f"unknown matrix kind {kind!r} (known: {', '.join(KINDS)})")
    return kinds


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_checkpoint(text: str | Path) -> Path:
    """A local checkpoint folder, or a Hugging Face hub id fetched once into the hub cache
    (weights and configs only). SftrlError naming ``text`` when neither works."""
    path = Path(str(text)).expanduser()
    if path.is_dir():
        return path.resolve()
    if not _HUB_ID.match(str(text)):
        raise SftrlError(f"checkpoint {str(text)!r} is neither a local folder nor a hub id (owner/name)")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(text), allow_patterns=["*.json", "*.safetensors"]))
    except Exception as exc:  # offline, unknown, gated: one line for the reader
        raise SftrlError(f"cannot fetch checkpoint {str(text)!r} from the hub: {type(exc).__name__}") from None


def split_paths(text: str | None) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (empty entries dropped; None or "" -> ``[]``)."""
    return [t.strip() for t in str(text or "").split(",") if t.strip()]


def resolve_layer(layer: int, num_layers: int) -> int:
    """``-1`` -> the middle layer; otherwise checked against ``0..num_layers-1``."""
    if layer == -1:
        return num_layers // 2
    if not 0 <= layer < num_layers:
        raise SftrlError(f"layer {layer} out of range (the checkpoint has layers 0..{num_layers - 1}; -1 = middle)")
    return layer
