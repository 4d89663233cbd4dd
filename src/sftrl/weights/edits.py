"""Weight edits in singular-vector space, written out as new Hugging Face checkpoints.

The edits of arXiv 2509.12235 (Figures 2, 4 and 5), in the SVD convention of
:mod:`sftrl.weights.spectral` (``W = U @ diag(S) @ Vh``, ``V = Vh.T``, rank ``r``):

* **rank-wise direction restoration** (:func:`restore_directions`): the top-k singular
  directions of a reference with the target's singular values,
  ``W' = [U_ref[:, :k] | U_tgt[:, k:]] diag(S_tgt) [V_ref[:, :k] | V_tgt[:, k:]]^T``;
  with ``tail=True`` the *k smallest* directions are restored instead.
  The mixed bases are not orthonormal in general (the reference's top-k columns need
  not be orthogonal to the target's remaining ones), so ``W'`` is not itself an SVD and
  its singular values are not exactly ``S_tgt``: this is the paper's edit as written.
* **layer-wise restoration**: the same edit, or a full swap ``W' = W_ref``, on chosen layer
  blocks only (:func:`layer_blocks`), with or without the embeddings and LM head.
* **grafting** (:func:`graft`): ``W = U_a diag(S_b) Vh_a``, the directions of ``a`` with the
  singular values of ``b``; both ways round.
* **sigma-only swap** (:func:`sigma_swap`): ``W = U_tgt diag(S_ref) Vh_tgt``.

:func:`edit_checkpoint` applies an :class:`Edit` to every selected matrix of a *target*
checkpoint (everything else, including norms and biases, is the target's) and writes a new
checkpoint folder atomically: config and tokenizer files are copied, shards without an
edited tensor are copied as they are, edited tensors are stored in the target's dtype.
Tied embeddings are never overwritten silently: editing only one of embed / lm_head of a
tied checkpoint unties it explicitly (``lm_head.weight`` written, ``tie_word_embeddings``
set to false); editing both keeps it tied.

Usage: ``edit_checkpoint(sft_end, sft_peak, out, Edit("restore", k=0.2))``
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from sftrl.weights.checkpoints import (
    BLOCK_KINDS,
    INDEX_FILE,
    KINDS,
    CheckpointReader,
    MatrixKey,
    SafetensorsFile,
    as_reader,
    check_comparable,
    select_keys,
)
from sftrl.errors import SftrlError
from sftrl.weights.spectral import SVD, SVDCache, resolve_device, resolve_k

#: what :class:`Edit` can do to a matrix
EDIT_OPS: tuple[str, ...] = ("restore", "swap", "graft", "sigma_swap")
#: files of a checkpoint folder that are never copied into an edited checkpoint
#: (weights are rewritten; optimizer / trainer state would not match the new weights)
SKIP_PATTERNS: tuple[str, ...] = (
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.index.json", "trainer_state.json", "sftrl_edit.json", ".*",
)
#: provenance written next to the edited weights
EDIT_RECORD = "sftrl_edit.json"


# --------------------------------------------------------------------------------------------
# the formulas (pure)
# --------------------------------------------------------------------------------------------
def restore_directions(ref: SVD, tgt: SVD, k: int, *, tail: bool = False, S: torch.Tensor | None = None) -> torch.Tensor:
    """Rank-wise direction restoration of arXiv 2509.12235 (Fig. 4).

    ``W' = [U_ref[:, :k] | U_tgt[:, k:]] diag(S) [V_ref[:, :k] | V_tgt[:, k:]]^T`` with
    ``S = S_tgt`` by default; ``tail=True`` takes the reference's last k columns
    (smallest singular values) instead of its first k. ``k = 0`` gives the target;
    ``k = r`` with ``S = S_ref`` gives the reference. The mixed bases are not orthonormal
    in general (see the module docstring).
    """
    r = tgt.S.numel()
    if ref.U.shape != tgt.U.shape or ref.Vh.shape != tgt.Vh.shape:
        raise SftrlError(f"SVDs of different shapes: {tuple(ref.U.shape)} vs {tuple(tgt.U.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= r:
        raise SftrlError(f"k={k!r} out of range 0..{r} (the rank)")
    S = tgt.S if S is None else S
    take = slice(r - k, r) if tail else slice(0, k)  # the reference's columns
    U = tgt.U.clone()  # (m, r)
    Vh = tgt.Vh.clone()  # (r, n)
    U[:, take] = ref.U[:, take]
    Vh[take, :] = ref.Vh[take, :]
    return (U * S) @ Vh  # U diag(S) Vh without forming diag


def graft(U_a: torch.Tensor, S_b: torch.Tensor, Vh_a: torch.Tensor) -> torch.Tensor:
    """Causal grafting of arXiv 2509.12235 (Fig. 5): ``W = U_a diag(S_b) Vh_a``.

    The singular directions of checkpoint ``a`` with the singular values of checkpoint ``b``.
    """
    if S_b.numel() != U_a.shape[1] or Vh_a.shape[0] != U_a.shape[1]:
        raise SftrlError(f"graft needs U (m, r), S (r,), Vh (r, n); got {tuple(U_a.shape)}, {tuple(S_b.shape)}, {tuple(Vh_a.shape)}")
    return (U_a * S_b) @ Vh_a


def sigma_swap(tgt: SVD, S_ref: torch.Tensor) -> torch.Tensor:
    """Sigma-only swap of arXiv 2509.12235 (Fig. 2): ``W = U_tgt diag(S_ref) Vh_tgt``."""
    return graft(tgt.U, S_ref, tgt.Vh)


def layer_blocks(num_layers: int) -> dict[str, tuple[int, ...]]:
    """The layer blocks of Fig. 4: the four quarters and the growing prefixes.

    Keys ``"Q1".."Q4"`` and ``"first 25%"``, ``"first 50%"``, ``"first 75%"``, ``"all"``;
    quarter boundaries are ``round(i * num_layers / 4)`` (a quarter may be empty for
    fewer than 4 layers and is then left out).
    """
    if num_layers < 1:
        raise SftrlError(f"num_layers={num_layers} must be at least 1")
    bounds = [int(i * num_layers / 4 + 0.5) for i in range(5)]
    blocks: dict[str, tuple[int, ...]] = {}
    for q in range(4):
        if bounds[q] < bounds[q + 1]:
            blocks[f"Q{q + 1}"] = tuple(range(bounds[q], bounds[q + 1]))
    for q, name in zip((1, 2, 3, 4), ("first 25%", "first 50%", "first 75%", "all")):
        if bounds[q] > 0:
            blocks[name] = tuple(range(bounds[q]))
    return blocks


# --------------------------------------------------------------------------------------------
# checkpoint-level edits
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """One edit applied to every selected matrix of a target checkpoint."""

    #: ``"restore"`` (reference's top/tail-k directions, target's singular values),
    #: ``"swap"`` (the reference's matrix whole), ``"graft"`` (all of the reference's
    #: directions, target's values: ``U_ref diag(S_tgt) Vh_ref``) or ``"sigma_swap"``
    #: (target's directions, reference's values: ``U_tgt diag(S_ref) Vh_tgt``)
    op: str = "restore"
    #: for ``restore``: an int number of directions, or a float fraction of each matrix's rank
    k: int | float = 0.2
    #: for ``restore``: restore the k smallest directions instead of the k largest
    tail: bool = False
    #: matrix kinds to edit (see :data:`sftrl.weights.checkpoints.KINDS`); ``None`` = the block kinds
    kinds: tuple[str, ...] | None = None
    #: layers whose block matrices are edited; ``None`` = every layer
    layers: tuple[int, ...] | None = None
    #: also edit the input embedding and the LM head (A's layer-wise script always does)
    embeddings: bool = False

    def selected_kinds(self) -> tuple[str, ...]:
        kinds = tuple(BLOCK_KINDS if self.kinds is None else self.kinds)
        if self.embeddings:
            kinds += tuple(k for k in ("embed", "lm_head") if k not in kinds)
        return kinds


@dataclass(frozen=True)
class EditPlan:
    """What :func:`edit_checkpoint` will do, fully validated (see :func:`plan_edit`)."""

    target: CheckpointReader  #: the checkpoint being edited (all untouched tensors come from it)
    reference: CheckpointReader  #: where the restored directions / values / matrices come from
    keys: list[MatrixKey]  #: the target's matrices to edit (a tied target's lm_head: see ``untie``)
    ks: dict[str, int]  #: tensor name -> number of directions (``restore`` only)
    untie: str | None  #: ``None``, or which of ``"embed"`` / ``"lm_head"`` alone a tied target edits


def _validate_edit(edit: Edit) -> None:
    if edit.op not in EDIT_OPS:
        raise SftrlError(f"unknown edit {edit.op!r} (known: {', '.join(EDIT_OPS)})")
    for kind in edit.selected_kinds():
        if kind not in KINDS:
            raise SftrlError(f"unknown matrix kind {kind!r} (known: {', '.join(KINDS)})")
    if edit.op == "restore" and (isinstance(edit.k, bool) or not isinstance(edit.k, (int, float))):
        raise SftrlError(f"k={edit.k!r} must be an int (directions) or a float (fraction of the rank)")


def plan_edit(target: str | Path | CheckpointReader, reference: str | Path | CheckpointReader, edit: Edit) -> EditPlan:
    """Check everything an edit needs and list the matrices it touches; no SVD runs.

    SftrlError names the first problem: an unknown op or kind, checkpoints that differ in
    tensor names or shapes, a layer out of range, or a k larger than a matrix's rank.
    """
    _validate_edit(edit)
    tgt, ref = as_reader(target), as_reader(reference)
    check_comparable(tgt, ref)
    kinds = edit.selected_kinds()
    keys = select_keys(tgt.keys(), kinds=kinds, layers=edit.layers, num_layers=tgt.num_layers)
    untie = None
    if tgt.tied:
        roles = {"embed", "lm_head"} & set(kinds)
        if roles == {"lm_head"}:
            untie = "lm_head"
            keys = [*keys, MatrixKey("lm_head.weight", None, "lm_head")]
        elif roles == {"embed"}:
            untie = "embed"
    elif "lm_head" in kinds and not any(k.kind == "lm_head" for k in tgt.keys()):
        raise SftrlError(f"no lm_head.weight in {tgt.path}")
    if not keys:
        raise SftrlError(f"the edit selects no matrix of {tgt.path} (kinds {kinds}, layers {edit.layers})")
    ks: dict[str, int] = {}
    if edit.op == "restore":
        for key in keys:
            m, n = tgt.shape(_source_name(tgt, key))
            ks[key.name] = resolve_k(edit.k, min(m, n), what=f"{key.name} {(m, n)}")
    return EditPlan(tgt, ref, keys, ks, untie)


def _source_name(reader: CheckpointReader, key: MatrixKey) -> str:
    """The stored tensor behind ``key`` (a tied lm_head is the embedding)."""
    if key.kind == "lm_head" and reader.tied:
        return reader.key("embed").name
    return key.name


def _edited_matrix(plan: EditPlan, edit: Edit, key: MatrixKey, ct: SVDCache, cr: SVDCache) -> torch.Tensor:
    src = _source_name(plan.target, key)
    if edit.op == "swap":
        return plan.reference.get(_source_name(plan.reference, key), ct.dtype)
    skey = MatrixKey(src, key.layer, "embed" if src != key.name else key.kind)
    tgt, ref = ct.load(skey), cr.load(skey)
    if edit.op == "restore":
        return restore_directions(ref, tgt, plan.ks[key.name], tail=edit.tail)
    if edit.op == "graft":
        return graft(ref.U, tgt.S, ref.Vh)
    return sigma_swap(tgt, ref.S)


def _copy_side_files(src: Path, dst: Path) -> None:
    for f in sorted(src.iterdir()):
        if f.is_file() and not any(fnmatch.fnmatch(f.name, p) for p in SKIP_PATTERNS):
            shutil.copy2(f, dst / f.name)


def _untie_config(path: Path) -> None:
    cfg = json.loads(path.read_text()) if path.is_file() else {}
    cfg["tie_word_embeddings"] = False
    if isinstance(cfg.get("text_config"), dict):
        cfg["text_config"]["tie_word_embeddings"] = False
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def edit_checkpoint(
    target: str | Path | CheckpointReader,
    reference: str | Path | CheckpointReader,
    out: str | Path,
    edit: Edit,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "auto",
    cache_root: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``target`` with ``edit`` applied (using ``reference``) as a new checkpoint ``out``.

    Validation (:func:`plan_edit`, the output path) happens before any SVD. The SVDs come
    from the per-checkpoint :class:`~sftrl.weights.spectral.SVDCache`, so a sweep over k decomposes
    each checkpoint once. The folder is assembled under a temporary name and moved into
    place with ``os.replace``; ``sftrl_edit.json`` in it records the edit.
    """
    plan = plan_edit(target, reference, edit)
    out = Path(out).expanduser().resolve()
    if out in (plan.target.path, plan.reference.path):
        raise SftrlError(f"output {out} would overwrite an input checkpoint")
    if out.exists() and not overwrite:
        raise SftrlError(f"output {out} exists (pass overwrite=True to replace it)")
    resolve_device(device)
    ct = SVDCache(plan.target, dtype=dtype, device=device, root=cache_root)
    cr = SVDCache(plan.reference, dtype=dtype, device=device, root=cache_root)

    tgt = plan.target
    embed_name = tgt.key("embed").name if plan.untie else None
    by_file: dict[Path, list[MatrixKey]] = {}
    for key in plan.keys:
        # a tied lm_head is written next to the embedding it was tied to
        file = tgt.file_of(_source_name(tgt, key))
        by_file.setdefault(file, []).append(key)
    if plan.untie == "embed":  # lm_head keeps the target's (unedited) embedding
        by_file.setdefault(tgt.file_of(embed_name), [])  # type: ignore[arg-type]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _copy_side_files(tgt.path, tmp)
        added: dict[str, tuple[str, int]] = {}  # new tensor name -> (file name, bytes)
        for file in sorted({tgt.file_of(n) for n in tgt.names()}):
            edits_here = by_file.get(file)
            if edits_here is None:
                shutil.copy2(file, tmp / file.name)  # untouched shard: byte for byte
                continue
            metadata = SafetensorsFile(file).metadata or {"format": "pt"}
            tensors = {n: tgt.get_raw(n) for n in tgt.names() if tgt.file_of(n) == file}
            if plan.untie == "embed" and tgt.file_of(embed_name) == file:  # type: ignore[arg-type]
                tensors["lm_head.weight"] = tensors[embed_name].clone()  # type: ignore[index]
            for key in edits_here:
                src = _source_name(tgt, key)
                W = _edited_matrix(plan, edit, key, ct, cr)
                tensors[key.name] = W.to(tensors[src].dtype).contiguous()
            for name in tensors.keys() - set(tgt.names()):
                added[name] = (file.name, tensors[name].numel() * tensors[name].element_size())
            save_file(tensors, str(tmp / file.name), metadata=metadata)
        index = tgt.path / INDEX_FILE
        if index.is_file():
            data = json.loads(index.read_text())
            for name, (fname, nbytes) in added.items():
                data["weight_map"][name] = fname
                if "total_size" in data.get("metadata", {}):
                    data["metadata"]["total_size"] += nbytes
            (tmp / INDEX_FILE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        if plan.untie:
            _untie_config(tmp / "config.json")
        record = {
            "edit": asdict(edit),
            "target": str(tgt.path),
            "reference": str(plan.reference.path),
            "untied": plan.untie,
            "edited": [k.name for k in plan.keys],
        }
        (tmp / EDIT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
