"""A tiny Qwen2-style chat LLM, written locally: the chat path's stand-in for a hub model.

:func:`build` writes a complete Hugging Face model folder with no network: a randomly
initialised (seeded) ``Qwen2ForCausalLM`` of ~40 thousand parameters (tied embeddings and
grouped-query attention, as Qwen2.5-0.5B), and a byte-level BPE tokenizer trained on the
GeneralPoints text the chat format produces (the papers' prompts, JSON answers and the
verifier's feedback), with Qwen2's pre-tokenizer and special tokens, its ChatML chat
template (``<|im_start|>role\\n...<|im_end|>\\n``), ``eos = <|im_end|>``, ``pad =
<|endoftext|>`` and both ids ending a completion in the generation config, as a Qwen2.5
instruct model has them. The folder loads as a hub id does
(``AutoModelForCausalLM.from_pretrained``, :func:`sftrl.training.model.load_model`), so
``model_base=<folder>, model_answer_format="chat"`` runs SFT, multi-turn RL, evaluation and
the weight analyses on one CPU thread in about half a minute (``tests/test_chat_path.py``).
Building takes about a second; the same arguments give the same bytes.

The ``chat-smoke`` profile starts from it (``model_base="tiny-chat"``, which
:func:`sftrl.training.train.base_source` resolves to a folder under ``data/``).

Usage: ``folder = tiny_chat.ensure(Path("tiny-chat")); model, tok = load_model(folder)``
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from sftrl.errors import SftrlError
from sftrl.task import game
from sftrl.task.prompts import ChatFormat, feedback, grade
from sftrl.task.verifier import verify_formula
from sftrl.training.model import save_checkpoint

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
#: Qwen2's ChatML template: a default system turn, every message as one turn, the assistant cue
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
#: Qwen2's pre-tokenizer split: words, single digits, punctuation runs, newlines, spaces
_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def texts(n_hands: int = 600, seed: int = 0) -> list[str]:
    """The tokenizer's training text: for ``n_hands`` hands under the ID, the OOD or a random
    face-card rule, the chat prompt, strict and loose answers, and the verifier's feedback
    to wrong answers of every outcome; deterministic in ``seed``."""
    fmt, rng = ChatFormat(), random.Random(seed)
    hands = game.all_hands(game.ID_RULE, solvable=False)
    empty = grade(fmt, "", hands[0], game.ID_RULE)
    out = ["You are a helpful assistant.", feedback(empty), feedback(empty, "bare")]
    for i in range(n_hands):
        hand = rng.choice(hands)
        rule = (game.ID_RULE, game.OOD_RULE, game.random_rule(rng))[i % 3]
        values = list(rule.values(hand))
        out.append(fmt.user_message(hand, rule))
        solutions = game.solve(values)
        if solutions:
            formula = rng.choice(solutions)
            out.append(fmt.answer(hand, rule, formula, strict=bool(i % 2)))
            out.append(fmt.answer(hand, rule, formula.replace(" ", "") + " = 24"))
        rng.shuffle(values)
        a, b, c, d = map(str, values)
        for wrong in (f"{a} + {b} + {c} * {d}", f"{a} * {b} - {c}", f"({a} + {hand[0]}) * {c} - {d}", f"({a} + {b}"):
            verdict = verify_formula(wrong, rule.values(hand))
            if not verdict.correct:
                out.append(fmt.answer(hand, rule, wrong))
                out.append(feedback(verdict))
        out.append(feedback(grade(fmt, fmt.answer(hand, rule, "1", strict=False), hand, rule)))
    return out


def build_tokenizer(vocab_size: int = 768, seed: int = 0) -> PreTrainedTokenizerFast:
    """A Qwen2-style byte-level BPE tokenizer of at most ``vocab_size`` ids trained on
    :func:`texts` (618 ids for 768: the task's words are all merged by then); the special
    tokens are ids 0-2, the ChatML template is attached."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[ENDOFTEXT, IM_START, IM_END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(texts(seed=seed), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token=IM_END, pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START], chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False, model_max_length=4096, padding_side="left",
    )


def build(folder: Path, *, hidden_size: int = 32, intermediate_size: int = 64, num_hidden_layers: int = 2,
          num_attention_heads: int = 2, num_key_value_heads: int = 1, vocab_size: int = 768,
          seed: int = 0) -> Path:
    """Write the tiny chat model and its tokenizer to ``folder`` (see the module docstring);
    return ``folder``. The global torch RNG is left as it was."""
    folder = Path(folder)
    tokenizer = build_tokenizer(vocab_size, seed)
    text_end, turn_end = tokenizer.convert_tokens_to_ids([ENDOFTEXT, IM_END])
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads, max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=text_end, eos_token_id=turn_end, pad_token_id=text_end,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = [turn_end, text_end]  # either ends a completion
    model.generation_config.pad_token_id = text_end
    model.generation_config.bos_token_id = text_end
    return save_checkpoint(model, tokenizer, folder)


def ensure(folder: Path, **shape: int) -> Path:
    """``folder``, built by :func:`build` (with ``shape``) unless it holds ``model.safetensors``.

    The model is built in a temporary sibling folder and renamed into place, so a reader
    never sees half of it; when two processes build at once, the first rename wins and the
    other's copy is dropped.
    """
    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        return folder
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # a killed build of this process id
    try:
        build(tmp, **shape)
        try:
            os.rename(tmp, folder)  # atomic; refused when a non-empty folder is already there
        except OSError:
            if not (folder / "model.safetensors").is_file():
                raise SftrlError(f"{folder} exists without model.safetensors; remove it to rebuild") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
