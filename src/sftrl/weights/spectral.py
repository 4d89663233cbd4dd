"""Singular values and singular subspaces of checkpoints: SVDs, a disk cache, and the metrics.

**SVD convention (the one used everywhere in sftrl).** For a weight ``W`` of shape
``(m, n)`` (``(d_out, d_in)`` as stored by ``nn.Linear``) with ``r = min(m, n)``::

    U, S, Vh = torch.linalg.svd(W, full_matrices=False)     # thin SVD
    W == U @ torch.diag(S) @ Vh                              # U (m, r), S (r,) descending, Vh (r, n)

The left singular vectors are the columns of ``U``, the right ones the rows of ``Vh``
(``V = Vh.T``). Decompositions run in float32 by default (float64 on request) on CUDA when it
is available (``device="auto"``) and are returned on the CPU.

:class:`SVDCache` keeps one safetensors file (``U``, ``S``, ``Vh``) per matrix per checkpoint
under ``paths.CACHE / "svd"``, so comparing one base against K checkpoints costs K + 1
decompositions, not 2K. Very large tall matrices (the embedding of a 150k-token vocabulary)
are decomposed in row blocks (:func:`streamed_svd`) so the pass never holds them whole.

Metrics (small, pure, named as the papers name them):
:func:`delta_sigma`, :func:`relative_sigma_change` (arXiv 2509.12235),
:func:`principal_angles`, :func:`top_k_principal_angles` (arXiv 2509.12235),
:func:`spectral_drift` (arXiv 2511.08567). :func:`compare` tabulates them per matrix.

Usage: ``rows = compare(base_path, rl_path, k_frac=0.2)  # one dict per matrix``
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from sftrl import paths
from sftrl.identity import checkpoint_identity, config_hash
from sftrl.provenance import code_key
from sftrl.weights.checkpoints import (
    CheckpointReader,
    MatrixKey,
    SafetensorsFile,
    analysis_dtype,
    as_reader,
    check_comparable,
    select_keys,
)
from sftrl.config import check_setting
from sftrl.errors import SftrlError

#: matrices with more entries than this, and at least twice as tall as wide, are decomposed
#: in row blocks (only a large-vocabulary embedding / LM head reaches this)
STREAM_NUMEL = 1 << 25
#: bytes of one row block read at a time by the streamed paths (larger blocks are barely
#: faster and raise the peak memory by several blocks' worth)
STREAM_BLOCK_BYTES = 16 << 20


class SVD(NamedTuple):
    """A thin SVD ``W = U @ diag(S) @ Vh``."""

    U: torch.Tensor  # (m, r)
    S: torch.Tensor  # (r,), descending
    Vh: torch.Tensor  # (r, n)


# --------------------------------------------------------------------------------------------
# decompositions
# --------------------------------------------------------------------------------------------
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; a CUDA request without CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SftrlError(f"unknown device {device!r} (use auto, cpu or cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SftrlError(f"device {device!r} requested but CUDA is not available")
    return dev


def svd(W: torch.Tensor, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "auto") -> SVD:
    """Thin SVD of ``W`` (m, n) as :class:`SVD` on the CPU, computed in ``dtype`` on ``device``.

    A wide matrix is decomposed through its transpose (``W.T = U' S Vh'`` gives
    ``U = Vh'.T``, ``Vh = U'.T``): LAPACK is about twice as fast on tall inputs.
    """
    if W.ndim != 2:
        raise SftrlError(f"svd expects a 2-D matrix, got shape {tuple(W.shape)}")
    dev = resolve_device(device)
    Wd = W.to(device=dev, dtype=analysis_dtype(dtype))
    if Wd.shape[0] < Wd.shape[1]:
        Ut, S, Vht = torch.linalg.svd(Wd.T, full_matrices=False)
        U, Vh = Vht.T, Ut.T
    else:
        U, S, Vh = torch.linalg.svd(Wd, full_matrices=False)
    return SVD(U.contiguous().cpu(), S.cpu(), Vh.contiguous().cpu())


def _block_rows(width: int, itemsize: int) -> int:
    return max(1, STREAM_BLOCK_BYTES // max(1, width * itemsize))


def streamed_svd(
    read_into: Callable[[int, int, torch.Tensor], object],
    shape: tuple[int, int],
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "auto",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Thin SVD of a tall ``(m, n)`` matrix read in row blocks.

    ``read_into(start, stop, out)`` fills ``out`` (stop - start, n) with those rows.
    Tall-skinny QR over the blocks gives ``R`` (n, n) with ``W = Q R``; ``R = U_R S Vh``
    gives ``S`` and ``Vh``; the rows of ``U`` are then ``W[rows] @ Vh.T / S`` (second pass,
    :func:`streamed_u_blocks`). Returns ``(S, Vh, M)`` with ``M = Vh.T / S`` (n, n) on the
    compute device, or ``None`` when ``W`` is numerically rank-deficient (then ``U`` is not
    determined by ``W @ V / S`` and the caller must use :func:`svd`). ``U`` loses some
    orthogonality relative to LAPACK for ill-conditioned ``W`` (about ``eps * S[0] / S[-1]``).
    The buffers are allocated once: reallocating them per block let the heap grow by more
    than the matrix.
    """
    m, n = shape
    dev = resolve_device(device)
    dt = analysis_dtype(dtype)
    rows = max(n, _block_rows(n, torch.finfo(dt).bits // 8))
    stack = torch.empty((n + rows, n), dtype=dt, device=dev)  # [R; block]
    # rows are read straight into the stack on the CPU, through a staging buffer otherwise
    block = None if dev.type == "cpu" else torch.empty((rows, n), dtype=dt)
    R = torch.empty((n, n), dtype=dt, device=dev)
    Q = torch.empty(0, dtype=dt, device=dev)  # mode="r" computes no Q
    top = 0
    for start in range(0, m, rows):
        b = min(m, start + rows) - start
        if block is None:
            read_into(start, start + b, stack[top : top + b])
        else:
            read_into(start, start + b, block[:b])
            stack[top : top + b].copy_(block[:b])
        torch.linalg.qr(stack[: top + b], mode="r", out=(Q, R))  # (n, n) once top + b >= n
        stack[:n].copy_(R)
        top = n
    del block, stack
    _, S, Vh = torch.linalg.svd(R, full_matrices=False)
    if S.numel() < n or S[-1] <= S[0] * max(m, n) * torch.finfo(dt).eps:
        return None
    M = Vh.T / S  # (n, r)
    return S.cpu(), Vh.contiguous().cpu(), M.contiguous()


def streamed_u_blocks(
    read_into: Callable[[int, int, torch.Tensor], object], m: int, M: torch.Tensor, *, block_rows: int
) -> Iterator[torch.Tensor]:
    """Rows of ``U = W @ M`` in blocks (second pass of :func:`streamed_svd`).

    Each yielded block is a view of one reused buffer: consume it before the next.
    """
    n, r = M.shape
    block = torch.empty((block_rows, n), dtype=M.dtype)  # CPU staging
    on_dev = block if M.device.type == "cpu" else torch.empty((block_rows, n), dtype=M.dtype, device=M.device)
    U = torch.empty((block_rows, r), dtype=M.dtype, device=M.device)
    for start in range(0, m, block_rows):
        b = min(m, start + block_rows) - start
        read_into(start, start + b, block[:b])
        if on_dev is not block:
            on_dev[:b].copy_(block[:b])
        torch.matmul(on_dev[:b], M, out=U[:b])
        yield U[:b].cpu()


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def delta_sigma(S_ref: torch.Tensor, S_other: torch.Tensor) -> torch.Tensor:
    """Change of each singular value, ``S_other - S_ref`` (r,). arXiv 2509.12235 (Fig. 2)."""
    if S_ref.shape != S_other.shape:
        raise SftrlError(f"spectra of different lengths: {tuple(S_ref.shape)} vs {tuple(S_other.shape)}")
    return S_other - S_ref


def relative_sigma_change(S_ref: torch.Tensor, S_other: torch.Tensor) -> torch.Tensor:
    """``|S_other - S_ref| / S_ref`` per singular value (r,). arXiv 2509.12235.

    Singular values that are zero to working precision (``S_ref <= eps * r * S_ref[0]``)
    give NaN rather than an infinite ratio; :func:`mean_relative_sigma_change` skips them.
    """
    d = delta_sigma(S_ref, S_other).abs()
    tol = torch.finfo(S_ref.dtype).eps * S_ref.numel() * (S_ref.max() if S_ref.numel() else 0)
    return torch.where(S_ref > tol, d / S_ref.clamp_min(torch.finfo(S_ref.dtype).tiny), torch.nan)


def mean_relative_sigma_change(S_ref: torch.Tensor, S_other: torch.Tensor) -> float:
    """Mean of :func:`relative_sigma_change` over the nonzero singular values. arXiv 2509.12235."""
    return float(torch.nanmean(relative_sigma_change(S_ref, S_other).double()))


def spectral_drift(S_ref: torch.Tensor, S_other: torch.Tensor, k: int) -> float:
    """``||S_other[:k] - S_ref[:k]|| / ||S_ref[:k]||`` (top-k spectral drift). arXiv 2511.08567."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(S_ref.numel(), S_other.numel()):
        raise SftrlError(f"k={k!r} out of range 1..{min(S_ref.numel(), S_other.numel())} for spectral_drift")
    a, b = S_ref[:k].double(), S_other[:k].double()
    return float(torch.linalg.vector_norm(b - a) / torch.linalg.vector_norm(a))


def principal_angles_from_cross(M: torch.Tensor) -> torch.Tensor:
    """Principal angles in degrees (ascending) from ``M = A.T @ B`` of orthonormal bases.

    ``theta_i = arccos(sigma_i(M))`` with the singular values clamped to [0, 1] (rounding
    can push them just above 1). arXiv 2509.12235.
    """
    sig = torch.linalg.svdvals(M.double()).clamp(0.0, 1.0)  # descending -> angles ascending
    return torch.rad2deg(torch.arccos(sig))


def principal_angles_from_grams(G_aa: torch.Tensor, G_bb: torch.Tensor, G_ab: torch.Tensor) -> torch.Tensor:
    """Principal angles (degrees, ascending) from ``A.T A``, ``B.T B`` and ``A.T B``.

    The bases are re-orthonormalized implicitly (``A = Q_a L_a^T`` with ``L_a`` the Cholesky
    factor of ``A.T A``), so ``Q_a.T Q_b = L_a^-1 (A.T B) L_b^-T``; then
    :func:`principal_angles_from_cross`. In float64 this removes the ~1e-7 loss of
    orthogonality of float32 singular vectors, which would otherwise put a floor of a few
    hundredths of a degree under every angle. arXiv 2509.12235.
    """
    try:
        La = torch.linalg.cholesky(G_aa.double())
        Lb = torch.linalg.cholesky(G_bb.double())
    except RuntimeError:
        raise SftrlError("principal angles need linearly independent basis vectors") from None
    X = torch.linalg.solve_triangular(La, G_ab.double(), upper=False)  # La^-1 G_ab
    M = torch.linalg.solve_triangular(Lb, X.T, upper=False).T  # X Lb^-T
    return principal_angles_from_cross(M)


def principal_angles(A: torch.Tensor, B: torch.Tensor, *, reorthonormalize: bool = True) -> torch.Tensor:
    """Principal angles (degrees, ascending) between the column spaces of orthonormal A and B.

    ``A`` (m, k) and ``B`` (m, l) have orthonormal columns (e.g. ``U[:, :k]``); returns
    ``min(k, l)`` angles ``arccos(sigma_i(A.T @ B))``, clamped. arXiv 2509.12235 (Fig. 3).
    With ``reorthonormalize`` (default) the products are taken in float64 through
    :func:`principal_angles_from_grams`, so float32 bases do not limit small angles to
    ~0.05 degrees; near-zero angles are still resolved only to about ``sqrt(eps64)``
    (~1e-6 degrees), the price of the arccos formula the paper uses.
    """
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise SftrlError(f"principal_angles needs (m, k) and (m, l) bases, got {tuple(A.shape)} and {tuple(B.shape)}")
    A, B = A.double(), B.double()
    if reorthonormalize:
        return principal_angles_from_grams(A.T @ A, B.T @ B, A.T @ B)
    return principal_angles_from_cross(A.T @ B)


def forced_zero_angles(k: int, m: int) -> int:
    """How many principal angles between two k-dim subspaces of R^m are 0 by construction.

    Two k-dimensional subspaces of R^m intersect in at least ``2k - m`` dimensions
    (the pitfall of arXiv 2509.12235's k/v plots with k=768 in R^1024).
    """
    return max(0, 2 * k - m)


@dataclass(frozen=True)
class AngleResult:
    """Principal angles between top-k singular subspaces, with the forced zeros marked."""

    angles: torch.Tensor  #: (k,) degrees, ascending
    k: int  #: the k actually used (capped at m // 2 when ``cap``)
    m: int  #: dimension of the ambient space
    forced_zero: torch.Tensor  #: (k,) bool, True for the first ``max(0, 2k - m)`` angles

    @property
    def free(self) -> torch.Tensor:
        """The angles that carry information (forced zeros removed)."""
        return self.angles[~self.forced_zero]

    def largest(self) -> float:
        """Largest principal angle (NaN if there are none)."""
        return float(self.angles.max()) if self.angles.numel() else math.nan

    def mean(self) -> float:
        """Mean of the informative angles (NaN if there are none)."""
        free = self.free
        return float(free.mean()) if free.numel() else math.nan


def _check_k(k: int, limit: int, what: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise SftrlError(f"k={k!r} out of range 1..{limit} for {what}")


def capped_k(k: int, m: int, *, cap: bool = True) -> int:
    """``k`` capped at ``m // 2`` (so no angle is forced to zero) when ``cap``, at least 1."""
    return max(1, min(k, m // 2)) if cap else k


def top_k_principal_angles(U_a: torch.Tensor, U_b: torch.Tensor, k: int, *, cap: bool = True) -> AngleResult:
    """Principal angles between the top-k left singular subspaces ``U_a[:, :k]``, ``U_b[:, :k]``.

    With ``cap`` (default) k is lowered to ``m // 2`` so none of the angles is zero by
    construction; without it all k angles are returned and the first ``2k - m`` are
    marked in ``forced_zero``. For right singular vectors pass ``Vh.T``. arXiv 2509.12235.
    """
    if U_a.shape != U_b.shape or U_a.ndim != 2:
        raise SftrlError(f"bases of different shapes: {tuple(U_a.shape)} vs {tuple(U_b.shape)}")
    m, r = U_a.shape
    _check_k(k, r, f"{r} singular vectors")
    k_used = capped_k(k, m, cap=cap)
    return _angle_result(principal_angles(U_a[:, :k_used], U_b[:, :k_used]), k_used, m)


def _angle_result(angles: torch.Tensor, k: int, m: int) -> AngleResult:
    mask = torch.zeros(k, dtype=torch.bool)
    mask[: forced_zero_angles(k, m)] = True
    return AngleResult(angles, k, m, mask)


def resolve_k(k: int | float, rank: int, *, what: str = "matrix") -> int:
    """Number of directions: an int in 0..rank as is, a float in [0, 1] as a fraction of rank."""
    if isinstance(k, bool):
        raise SftrlError(f"k={k!r} is not a number of directions")
    if isinstance(k, int):
        if not 0 <= k <= rank:
            raise SftrlError(f"k={k} out of range 0..{rank} (the rank of {what})")
        return k
    if isinstance(k, float):
        if not 0.0 <= k <= 1.0:
            raise SftrlError(f"k={k} as a fraction of the rank must lie in [0, 1]")
        return int(math.floor(k * rank + 0.5))
    raise SftrlError(f"k={k!r} must be an int (directions) or a float (fraction of the rank)")


# --------------------------------------------------------------------------------------------
# on-disk cache
# --------------------------------------------------------------------------------------------
_ST_DTYPE = {torch.float32: "F32", torch.float64: "F64"}


def _write_safetensors(
    path: Path,
    entries: list[tuple[str, tuple[int, ...], torch.dtype, Iterable[torch.Tensor]]],
    metadata: dict[str, str],
) -> None:
    """Write a safetensors file from tensors given as row-major chunks, atomically.

    Streaming the chunks lets the large ``U`` of a streamed SVD go to disk without ever
    being whole in memory. The file goes to a temporary name and is ``os.replace``-d, so a
    reader never sees half a file.
    """
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, shape, dtype, _ in entries:
        size = math.prod(shape) * (torch.finfo(dtype).bits // 8)
        header[name] = {"dtype": _ST_DTYPE[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads the header to 8-byte alignment
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(len(raw).to_bytes(8, "little"))
            f.write(raw)
            for name, shape, dtype, chunks in entries:
                written = 0
                for chunk in chunks:
                    arr = chunk.detach().to("cpu", dtype).contiguous().numpy()
                    f.write(arr.data)
                    written += arr.nbytes
                expect = header[name]["data_offsets"]  # type: ignore[index]
                if written != expect[1] - expect[0]:
                    raise RuntimeError(f"wrote {written} bytes for {name}, expected {expect[1] - expect[0]}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class SVDCache:
    """Per-checkpoint cache of thin SVDs, one safetensors file per matrix.

    The folder is ``root / "<checkpoint name>-<fingerprint>-<f32|f64>-<code>"``, where the
    fingerprint is the checkpoint's content identity
    (:func:`sftrl.identity.checkpoint_identity`) and ``code`` a hash of this module's code
    and the packages (:func:`sftrl.provenance.code_key`). Every file holds ``U`` (m, r),
    ``S`` (r,) and ``Vh`` (r, n) in the cache's dtype.
    """

    def __init__(
        self,
        checkpoint: str | Path | CheckpointReader,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "auto",
        root: str | Path | None = None,
    ) -> None:
        self.reader = as_reader(checkpoint)
        self.dtype = analysis_dtype(dtype)
        self.device = resolve_device(device)
        base = Path(root) if root is not None else paths.CACHE / "svd"
        tag = "f32" if self.dtype == torch.float32 else "f64"
        fingerprint = checkpoint_identity(self.reader.path).removeprefix("sha256:")[:16]
        code = config_hash(code_key("sftrl.weights.spectral"))
        self.dir = base / f"{self.reader.path.name}-{fingerprint}-{tag}-{code}"
        self._itemsize = torch.finfo(self.dtype).bits // 8
        # the SVD just computed (not streamed) stays in memory until the next one, so the
        # metrics of a cold pass do not read back what was just written
        self._last: tuple[str, SVD] | None = None

    def file(self, key: MatrixKey) -> Path:
        """Cache file of matrix ``key``."""
        return self.dir / f"{key.name}.safetensors"

    def ensure(self, key: MatrixKey) -> Path:
        """Decompose ``key`` unless its cache file exists; return the file."""
        path = self.file(key)
        if self._last is not None and self._last[0] == key.name:
            return path  # just computed and written
        if not path.is_file():
            self.dir.mkdir(parents=True, exist_ok=True)
            self._compute(key, path)
        return path

    def _compute(self, key: MatrixKey, path: Path) -> None:
        m, n = self.reader.shape(key.name)
        r = min(m, n)
        meta = {"format": "pt", "tensor": key.name, "convention": "W = U @ diag(S) @ Vh"}
        if m * n > STREAM_NUMEL and m >= 2 * n:
            scratch: dict[str, torch.Tensor] = {}

            def read(a: int, b: int, out: torch.Tensor) -> torch.Tensor:
                return self.reader.read_rows_into(key.name, a, b, out, scratch)

            out = streamed_svd(read, (m, n), dtype=self.dtype, device=self.device)
            if out is not None:
                S, Vh, M = out
                blocks = streamed_u_blocks(read, m, M, block_rows=_block_rows(n, self._itemsize))
                _write_safetensors(
                    path,
                    [("U", (m, r), self.dtype, blocks), ("S", (r,), self.dtype, [S]), ("Vh", (r, n), self.dtype, [Vh])],
                    {**meta, "method": "streamed"},
                )
                return
        U, S, Vh = svd(self.reader.get(key.name, self.dtype), dtype=self.dtype, device=self.device)
        entries = [("U", (m, r), self.dtype, [U]), ("S", (r,), self.dtype, [S]), ("Vh", (r, n), self.dtype, [Vh])]
        _write_safetensors(path, entries, {**meta, "method": "lapack"})
        self._last = (key.name, SVD(U, S, Vh))

    def _rows(self, key: MatrixKey, name: str, start: int | None = None, stop: int | None = None,
              out: torch.Tensor | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of ``U``, ``S`` or ``Vh`` (positioned reads, no memory map)."""
        path = self.ensure(key)
        if self._last is not None and self._last[0] == key.name:
            rows = getattr(self._last[1], name)[start:stop]
            return rows if out is None else out.copy_(rows)
        return SafetensorsFile(path).read(name, start, stop, out=out)

    def forget(self) -> None:
        """Drop the in-memory copy of the last SVD (it stays on disk)."""
        self._last = None

    def S(self, key: MatrixKey) -> torch.Tensor:
        """Singular values of ``key`` (r,), descending."""
        return self._rows(key, "S")

    def load(self, key: MatrixKey) -> SVD:
        """The whole SVD of ``key`` (loads ``U`` whole: fine except for huge embeddings)."""
        return SVD(self._rows(key, "U"), self._rows(key, "S"), self._rows(key, "Vh"))

    def u_rows(self, key: MatrixKey, start: int, stop: int, k: int) -> torch.Tensor:
        """``U[start:stop, :k]`` without reading the rows outside ``start:stop``."""
        return self._rows(key, "U", start, stop)[:, :k]

    def vh_top(self, key: MatrixKey, k: int) -> torch.Tensor:
        """``Vh[:k]`` (k, n), the top-k right singular vectors as rows."""
        return self._rows(key, "Vh", 0, k)

    def u_grams(self, other: SVDCache, key: MatrixKey, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(A.T A, B.T B, A.T B)`` (k, k) float64 for ``A = U_self[:, :k]``, ``B = U_other[:, :k]``,
        accumulated over row blocks (reused buffers) so a tall ``U`` is never read whole."""
        m, n = self.reader.shape(key.name)
        r = min(m, n)
        rows = min(m, _block_rows(r, self._itemsize))
        raw = [torch.empty((rows, r), dtype=self.dtype) for _ in range(2)]  # full rows of U
        top = [torch.empty((rows, k), dtype=torch.float64) for _ in range(2)]  # their first k columns
        G = [torch.zeros((k, k), dtype=torch.float64) for _ in range(3)]
        for start in range(0, m, rows):
            b = min(m, start + rows) - start
            for cache, buf, dbl in ((self, raw[0], top[0]), (other, raw[1], top[1])):
                cache._rows(key, "U", start, start + b, out=buf[:b])
                dbl[:b].copy_(buf[:b, :k])
            A, B = top[0][:b], top[1][:b]
            G[0].addmm_(A.T, A)
            G[1].addmm_(B.T, B)
            G[2].addmm_(A.T, B)
        return G[0], G[1], G[2]


def subspace_angles_between(
    a: SVDCache, b: SVDCache, key: MatrixKey, k: int, *, side: str = "left", cap: bool = True
) -> AngleResult:
    """Principal angles between the top-k singular subspaces of one matrix in two checkpoints.

    ``side="left"`` uses the columns of ``U`` (subspaces of R^m), ``"right"`` the rows of
    ``Vh`` (subspaces of R^n). k is capped at half the dimension unless ``cap=False``, in
    which case the forced zeros are marked. arXiv 2509.12235.
    """
    m, n = a.reader.shape(key.name)
    _check_k(k, min(m, n), f"{key.name} (rank {min(m, n)})")
    if side == "left":
        k_used = capped_k(k, m, cap=cap)
        return _angle_result(principal_angles_from_grams(*a.u_grams(b, key, k_used)), k_used, m)
    if side == "right":
        k_used = capped_k(k, n, cap=cap)
        V_a, V_b = a.vh_top(key, k_used).T, b.vh_top(key, k_used).T  # (n, k)
        return _angle_result(principal_angles(V_a, V_b), k_used, n)
    raise SftrlError(f"side must be 'left' or 'right', got {side!r}")


# --------------------------------------------------------------------------------------------
# the per-matrix table
# --------------------------------------------------------------------------------------------
#: columns of a :func:`compare` row, in table order
ROW_FIELDS = (
    "layer", "kind", "name", "shape", "rank", "k",
    "spectral_drift", "mean_rel_dsigma",
    "max_angle_u", "mean_angle_u", "max_angle_v", "mean_angle_v",
)


def compare_matrix(a: SVDCache, b: SVDCache, key: MatrixKey, *, k_frac: float = 0.2) -> dict:
    """One row of :func:`compare` for matrix ``key`` (decomposing through the caches)."""
    m, n = a.reader.shape(key.name)
    r = min(m, n)
    k = max(1, resolve_k(float(k_frac), r))
    S_a, S_b = a.S(key), b.S(key)
    left = subspace_angles_between(a, b, key, k, side="left")
    right = subspace_angles_between(a, b, key, k, side="right")
    return {
        "layer": key.layer,
        "kind": key.kind,
        "name": key.name,
        "shape": (m, n),
        "rank": r,
        "k": k,
        "spectral_drift": spectral_drift(S_a, S_b, k),
        "mean_rel_dsigma": mean_relative_sigma_change(S_a, S_b),
        "max_angle_u": left.largest(),
        "mean_angle_u": left.mean(),
        "max_angle_v": right.largest(),
        "mean_angle_v": right.mean(),
    }


def check_k_frac(k_frac: float) -> float:
    """``k_frac`` must lie in (0, 1] (:data:`sftrl.config.ANALYSIS_RULES`)."""
    check_setting("k_frac", k_frac)
    return float(k_frac)


def compare(
    base_path: str | Path | CheckpointReader,
    other_path: str | Path | CheckpointReader,
    *,
    k_frac: float = 0.2,
    kinds: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "auto",
    cache_root: str | Path | None = None,
    progress: Callable[[MatrixKey], None] | None = None,
) -> list[dict]:
    """Per-matrix spectral comparison of two checkpoints, one row dict per matrix.

    Each row holds ``layer, kind, name, shape, rank, k`` and the metrics
    ``spectral_drift`` (top-k, arXiv 2511.08567), ``mean_rel_dsigma`` (mean |dS|/S over all
    singular values, arXiv 2509.12235) and the largest / mean principal angle in degrees
    between the top-k left (``_u``) and right (``_v``) singular subspaces (arXiv 2509.12235),
    with ``k = max(1, round(k_frac * rank))`` (capped at half the dimension for the angles).
    Everything is validated (kinds, layers, k_frac, identical tensor names and shapes)
    before the first SVD; decompositions are cached per checkpoint under ``cache_root``
    (default ``paths.CACHE / "svd"``). ``progress`` is called after each matrix.
    """
    k_frac = check_k_frac(k_frac)
    base, other = as_reader(base_path), as_reader(other_path)
    check_comparable(base, other)
    keys = select_keys(base.keys(), kinds=kinds, layers=layers, num_layers=base.num_layers)
    if not keys:
        raise SftrlError(f"no matrices of kinds {tuple(kinds or ())} / layers {tuple(layers or ())} in {base.path}")
    ca = SVDCache(base, dtype=dtype, device=device, root=cache_root)
    cb = SVDCache(other, dtype=dtype, device=device, root=cache_root)
    rows = []
    for key in keys:
        rows.append(compare_matrix(ca, cb, key, k_frac=k_frac))
        ca.forget()  # done with this matrix: keep only one matrix's SVDs in memory at a time
        cb.forget()
        if progress is not None:
            progress(key)
    return rows
