"""The project's small default model, its word-level tokenizer, and checkpoint I/O.

The default model is a ~1 M-parameter Llama-style decoder over the compact token vocabulary
of :mod:`sftrl.task.prompts` (one token per card, number, operator and keyword). Embeddings are
untied by default: the spectral edits of the book act on single matrices, and with tied
weights an edit of the embedding would silently change the LM head too.

Any local checkpoint folder or Hugging Face hub id loads through the same path
(:func:`load_model`), so the analysis code works unchanged on a chat LLM.

Usage::

    from sftrl.training.model import SmallModelConfig, build_tokenizer, build_model, save_checkpoint
    tok = build_tokenizer(); model = build_model(SmallModelConfig(), tok, seed=0)
    save_checkpoint(model, tok, path); model, tok = load_model(path)
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from sftrl.errors import SftrlError
from sftrl.task.prompts import COMPACT_VOCAB

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"

#: files that make a folder a loadable model: the config plus single or sharded safetensors
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
#: a Hugging Face tokenizer is saved as at least one of these
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


# --------------------------------------------------------------------------- tokenizer


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The compact word-level tokenizer: one id per entry of ``prompts.COMPACT_VOCAB``.

    Text is split on whitespace only (the compact format separates every token by a space);
    ``<bos>`` is prepended by the post-processor, ``<eos>`` is appended by the training data,
    not here. Left padding, because batched generation continues from the right end.
    Decoding joins tokens with single spaces, so ``decode(encode(t), skip_special_tokens=True)``
    returns ``t`` for any space-normalised text over the vocabulary.
    """
    vocab = {word: i for i, word in enumerate(COMPACT_VOCAB)}
    for special in (PAD, BOS, EOS, UNK):
        if special not in vocab:  # a programming error in prompts.py, not a user's mistake
            raise RuntimeError(f"COMPACT_VOCAB lacks the special token {special!r}")
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        padding_side="left",
        clean_up_tokenization_spaces=False,  # "( 3" must not become "(3" or similar
        model_max_length=1024,
    )


# --------------------------------------------------------------------------- generation settings


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """All ids that end a completion: the generation config's (chat models list several)."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    if not ids:
        raise SftrlError("the model and tokenizer define no end-of-sequence token; generation would never stop")
    return ids


def suppressed_ids(tokenizer: Any, eos: list[int]) -> list[int]:
    """The special tokens a completion may not contain: every one but end-of-sequence.

    A completion is text, and decoding drops special tokens; were one generated inside an
    attempt, the attempt's text (what the verifier grades and the next turn's context
    holds) would differ from the tokens the model conditioned on.
    """
    return sorted(set(getattr(tokenizer, "all_special_ids", [])) - set(eos))


def sampling_kwargs(temperature: float, suppress: list[int] | None = None) -> dict[str, Any]:
    """``generate()`` settings of greedy (0) or plain sampling at ``temperature``, with the
    ``suppress`` token ids (:func:`suppressed_ids`) never generated."""
    # Every knob is set explicitly, so a hub model's generation_config.json (say temperature
    # 0.6, top_p 0.95) cannot change the protocol; the greedy values are the neutral ones,
    # which transformers does not warn about.
    extra = {"suppress_tokens": list(suppress)} if suppress else {}
    if temperature == 0.0:
        return dict(do_sample=False, temperature=1.0, top_k=50, top_p=1.0, repetition_penalty=1.0, **extra)
    return dict(do_sample=True, temperature=float(temperature), top_k=0, top_p=1.0, repetition_penalty=1.0, **extra)



# --------------------------------------------------------------------------- model


@dataclass
class SmallModelConfig:
    """Shape of the project's small default model (a Llama-style decoder, ~1.06 M parameters)."""

    hidden_size: int = 128
    """Width of the residual stream (and of the embeddings)."""
    intermediate_size: int = 512
    """Hidden width of each SwiGLU MLP (gate/up project to it, down projects back)."""
    num_hidden_layers: int = 4
    """Number of transformer blocks."""
    num_attention_heads: int = 4
    """Query heads per block; must divide ``hidden_size``."""
    num_key_value_heads: int = 4
    """Key/value heads (grouped-query attention when smaller); must divide the query heads."""
    max_position_embeddings: int = 192
    """Longest sequence the model is meant for: an episode of 5 compact attempts with the
    verifier's turns between them (one prompt and answer is ~34 tokens)."""
    tie_word_embeddings: bool = False
    """Share the embedding and LM-head matrix. Off: an edit of one must not change the other."""
    rms_norm_eps: float = 1e-6
    """Epsilon of the RMSNorm layers."""
    initializer_range: float = 0.02
    """Standard deviation of the random normal initialisation of the weight matrices."""

    def __post_init__(self) -> None:
        for name in ("hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SftrlError(f"SmallModelConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise SftrlError(
                f"SmallModelConfig.hidden_size={self.hidden_size} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise SftrlError(
                f"SmallModelConfig.num_attention_heads={self.num_attention_heads} is not divisible "
                f"by num_key_value_heads={self.num_key_value_heads}"
            )

    def to_llama_config(self, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
        """The transformers config, with vocabulary size and special ids from ``tokenizer``."""
        return LlamaConfig(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **asdict(self),
        )


def build_model(cfg: SmallModelConfig, tokenizer: PreTrainedTokenizerBase, *, seed: int) -> LlamaForCausalLM:
    """A randomly initialised model; the same ``seed`` gives bit-identical weights.

    The global torch RNG is left as it was (the initialisation runs in a forked RNG state).
    """
    config = cfg.to_llama_config(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model.eval()


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (a tied matrix is counted once)."""
    return sum(p.numel() for p in model.parameters())  # parameters() already dedupes shared tensors


# --------------------------------------------------------------------------- checkpoints


def is_complete_checkpoint(path: str | Path) -> bool:
    """True when ``path`` holds config.json, safetensors weights (single or index) and a tokenizer."""
    path = Path(path)
    return (
        path.is_dir()
        and (path / "config.json").is_file()
        and any((path / name).is_file() for name in WEIGHT_FILES)
        and any((path / name).is_file() for name in TOKENIZER_FILES)
    )


def _missing_files(path: Path) -> list[str]:
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    return missing


def save_checkpoint(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: str | Path) -> Path:
    """Save model (safetensors) and tokenizer to ``path`` atomically; return the path.

    Everything is written into a sibling temporary folder first and then renamed into place,
    so a reader never sees a half-written checkpoint. An existing folder at ``path`` is moved
    aside before the rename and deleted after it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f"{path.name}.old-{os.getpid()}")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    try:
        model.save_pretrained(tmp)  # transformers 5 always writes safetensors
        tokenizer.save_pretrained(tmp)
        if not is_complete_checkpoint(tmp):  # never publish a folder load_model would refuse
            raise RuntimeError(f"saving to {tmp} left it incomplete: missing {_missing_files(tmp)}")
        if path.exists():
            # os.replace cannot replace a non-empty folder: move the old one aside first
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    if old.exists():
        shutil.rmtree(old)
    return path


def _looks_local(name: str | Path) -> bool:
    """Whether ``name`` is meant as a local folder (a hub id is ``name`` or ``owner/name``)."""
    if isinstance(name, Path):
        return True
    text = str(name)
    return (
        Path(text).exists()
        or text.startswith(("/", ".", "~"))
        or text.count("/") > 1
        or os.sep != "/" and os.sep in text
    )


def _check_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise SftrlError(f"unknown device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SftrlError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


def load_model(
    name_or_path: str | Path, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer from a local checkpoint folder or a hub id.

    Raises :class:`SftrlError` naming ``name_or_path`` when the local folder is missing or
    incomplete, or the hub id cannot be loaded (no network, unknown id, no cached copy).
    The tokenizer is set up for batched generation (left padding, pad = eos when it has no
    pad token) and the model is returned in eval mode.
    """
    dev = _check_device(device)
    if _looks_local(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_dir():
            raise SftrlError(f"no model folder at {str(name_or_path)!r}")
        missing = _missing_files(path)
        if missing:
            raise SftrlError(
                f"model folder {str(name_or_path)!r} is incomplete (missing {', '.join(missing)}); "
                "was it half-written or not saved with save_checkpoint?"
            )
        source = str(path)
    else:
        source = str(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError, KeyError) as err:
        # hub errors (offline, unknown repo, gated) are OSError subclasses in transformers
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        where = "local folder" if _looks_local(name_or_path) else "hub id"
        raise SftrlError(f"cannot load model {str(name_or_path)!r} ({where}): {first_line}") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(dev).eval(), tokenizer
