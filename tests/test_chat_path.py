"""The chat path end to end, with no hub: a tiny Qwen2 chat model built locally
(:mod:`sftrl.training.tiny_chat`) loads as a hub model does, and SFT, multi-turn GRPO with the
verifier's feedback, the evaluation at 1 and 5 attempts and the weight analyses run on it
with ``answer_format="chat"``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from sftrl import config
from sftrl.book import execute, site_check
from sftrl.cli import main
from sftrl.errors import SftrlError
from sftrl.evaluation import checkpoint
from sftrl.evaluation.evaluate import evaluate_hands, generate
from sftrl.task import corpus, game
from sftrl.task.prompts import get_format
from sftrl.task.verifier import verify_formula
from sftrl.training import rollout, tiny_chat, train
from sftrl.training.model import eos_ids, load_model, suppressed_ids
from sftrl.weights import masks_report, spectral

CHATML = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
          "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tiny_chat.build(tmp_path_factory.mktemp("tiny-chat") / "model")


def test_the_folder_loads_as_a_hub_model_does(folder):
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.model_type == "qwen2" and model.config.tie_word_embeddings
    assert 512 <= len(tok) <= 1024 and model.config.vocab_size == len(tok)
    assert (tok.eos_token, tok.pad_token) == ("<|im_end|>", "<|endoftext|>")
    end, text_end = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert eos_ids(model, tok) == [end, text_end]  # a completion ends at either, as in Qwen2.5
    assert suppressed_ids(tok, eos_ids(model, tok)) == [tok.convert_tokens_to_ids("<|im_start|>")]
    model, tok = load_model(folder)
    assert tok.padding_side == "left" and not model.training
    ids = tok(["a short one", "and a somewhat longer prompt"], return_tensors="pt", padding=True)
    assert model(**ids).logits.shape[:2] == ids["input_ids"].shape


def test_the_chat_template_renders_chatml(folder):
    tok = AutoTokenizer.from_pretrained(folder)
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert text == CHATML
    ids = tok(text)["input_ids"]
    assert ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 3  # special tokens are single ids
    assert tok.decode(ids) == text
    # the task's text is what the tokenizer was trained on: a chat prompt is a few hundred tokens
    fmt = get_format("chat")
    prompt = fmt.prompt(("A", "5", "J", "Q"), game.OOD_RULE, tok)
    assert prompt.startswith(CHATML[:60]) and prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert len(tok(prompt)["input_ids"]) < 300
    # the verifier's turn closes the assistant's, opens the user's and cues the next answer
    answer = fmt.answer(("A", "5", "J", "Q"), game.ID_RULE, "1 + 5")
    turn = fmt.feedback_turn(answer, verify_formula("1 + 5", [1, 5, 10, 10]), tokenizer=tok)
    assert turn.startswith("<|im_end|>\n<|im_start|>user\nYour answer is wrong (wrong numbers)")
    assert turn.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_the_verifiers_turn_follows_an_attempt_a_template_trims(folder):
    # Llama- and Gemma-style templates trim a message's content: the verifier's turn still
    # comes from the template, right after the attempt as it was generated
    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = tiny_chat.CHAT_TEMPLATE.replace("message['content']", "(message['content'] | trim)")
    fmt = get_format("chat")
    prompt = fmt.prompt(("A", "5", "J", "Q"), game.ID_RULE, tok)
    attempt = '{"formula": "1 + 5"} \n'
    retry = fmt.retry_prompt(prompt, attempt, verify_formula("1 + 5", [1, 5, 10, 10]), tokenizer=tok)
    assert retry.startswith(prompt + attempt + "<|im_end|>\n<|im_start|>user\nYour answer is wrong")


def test_the_build_is_deterministic(folder, tmp_path):
    again = tiny_chat.build(tmp_path / "again")
    names = sorted(p.name for p in folder.iterdir())
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= set(names)
    assert sorted(p.name for p in again.iterdir()) == names
    for name in names:
        assert (folder / name).read_bytes() == (again / name).read_bytes(), name
    other = tiny_chat.build(tmp_path / "other", seed=1)
    assert (other / "tokenizer.json").read_bytes() != (folder / "tokenizer.json").read_bytes()
    assert (other / "model.safetensors").read_bytes() != (folder / "model.safetensors").read_bytes()


def test_ensure_builds_once_and_publishes_whole_folders(tmp_path):
    target = tmp_path / "models" / "tiny"
    assert tiny_chat.ensure(target) == target
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    assert tiny_chat.ensure(target) == target  # already there: not rebuilt
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]  # no temporary folder left
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(SftrlError, match="without model.safetensors"):
        tiny_chat.ensure(tmp_path / "half")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half", "models"]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def _recording(trainer: type, batches: list[dict[str, torch.Tensor]]) -> type:
    """``trainer`` (trl's SFTTrainer) that keeps the first batch it computes a loss on in ``batches``."""

    class Recording(trainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            if not batches:
                batches.append({k: v.detach().cpu() for k, v in inputs.items() if torch.is_tensor(v)})
            return super().compute_loss(model, inputs, *args, **kwargs)

    return Recording


def _check_prompts_carry_no_loss(batch: dict[str, torch.Tensor], tokenizer, fmt) -> None:
    """Every label at a prompt position is -100; the answer and its ``<|im_end|>`` carry labels."""
    cue = tokenizer("<|im_start|>assistant\n")["input_ids"]
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert batch["labels"].shape == batch["input_ids"].shape
    for ids, labels, mask in zip(batch["input_ids"].tolist(), batch["labels"].tolist(),
                                 batch["attention_mask"].tolist()):
        n = sum(mask)  # right padding
        at = max(i for i, t in enumerate(ids[:n]) if t == start)  # the assistant's turn, the last one opened
        assert ids[at:at + len(cue)] == cue
        answer = at + len(cue)
        assert all(x == -100 for x in labels[:answer])
        assert labels[answer:n] == ids[answer:n]
        assert all(x == -100 for x in labels[n:])
        text = tokenizer.decode(ids[answer:n])
        assert text.endswith("<|im_end|>") and fmt.parse(text) is not None and fmt.parse(text).strict


@pytest.mark.slow
def test_sft_rl_evaluation_and_weight_analyses_on_the_tiny_chat_model(folder, tmp_path, monkeypatch, capsys):
    import trl

    # the chat-smoke profile (its sizes are why: answers of 45-57 tokens, SFT fast enough that
    # sampled answers are sometimes well-formed, rollouts cool enough for GRPO's gradient)
    cfg = config.profile("chat-smoke", model_base=str(folder))
    assert cfg.model.answer_format == "chat"
    fmt = get_format("chat")
    end = cfg.sft.steps

    # SFT: the loss falls, and the prompt tokens of the batches trl trains on carry no loss
    batches: list[dict[str, torch.Tensor]] = []
    monkeypatch.setattr(trl, "SFTTrainer", _recording(trl.SFTTrainer, batches))  # train.sft imports it late
    sft = train.sft(cfg)
    monkeypatch.undo()
    assert sft.is_done and sorted(sft.checkpoints()) == sorted({*cfg.sft.checkpoints, end})
    losses = [r["loss"] for r in sft.metrics() if "loss" in r]
    assert len(losses) >= 10 and all(math.isfinite(x) for x in losses)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 2.0, (first, last)  # measured 5.2 -> 0.8 nats per answer token
    _, tokenizer = load_model(folder)
    assert batches, "SFTTrainer computed no loss"
    _check_prompts_carry_no_loss(batches[0], tokenizer, fmt)

    # the multi-turn sampler: the verifier's turns are the chat template's, outside env_mask
    model, tokenizer = load_model(sft.checkpoint(end))
    torch.manual_seed(0)
    played = rollout.sample(model, tokenizer, fmt, [(h, "id") for h in corpus.splits(cfg.split_seed).rl[:4]],
                            attempts=2, max_new_tokens=cfg.rl.max_completion_length, temperature=0.0)
    retried = [r for r in played if len(r.episode.turns) == 2]
    assert retried, "every episode was solved at its first attempt"
    for r in retried:
        verifier = [t for t, m in zip(r.completion_ids, r.env_mask) if m == 0]
        turn = fmt.feedback_turn(r.episode.turns[0].completion, r.episode.turns[0].verdict, tokenizer=tokenizer)
        assert tokenizer.decode(verifier) == turn
        assert len(r.logprobs) == len(r.completion_ids) == len(r.env_mask)
        # the episode's text holds the very tokens the sampler fed the model
        ids, context = r.prompt_ids + r.completion_ids, tokenizer(r.episode.turns[1].context)["input_ids"]
        assert ids[:len(context)] == context
        assert tokenizer.decode(ids[len(context):], skip_special_tokens=True) == r.episode.turns[1].completion
    # so the evaluation's two ways of playing the episodes give the same greedy episodes
    hands = checkpoint.cap_hands(corpus.splits(cfg.split_seed).id_eval, 8)
    by_sampler = evaluate_hands(model, tokenizer, fmt, hands, "id", cfg.eval)
    by_generate = evaluate_hands(model, tokenizer, fmt, hands, "id", cfg.eval, generate_fn=generate)
    assert by_sampler.records == by_generate.records

    # multi-turn GRPO from the end of SFT: some group's rewards differ, so the weights move
    rl = train.rl(cfg, from_step=end)
    assert rl.is_done and rl.summary()["from_step"] == end
    logs = rl.metrics()
    rewards = [r["reward"] for r in logs if "reward" in r]
    assert rewards and all(-3.0 * cfg.rl.attempts <= x <= 5.0 for x in rewards)
    assert max(r["reward_std"] for r in logs if "reward_std" in r) > 0
    start, moved = _weights(sft.checkpoint(end)), _weights(rl.checkpoint(cfg.rl.steps))
    assert start.keys() == moved.keys() and "lm_head.weight" not in start  # tied, as Qwen2.5-0.5B
    assert all(not torch.equal(start[k], moved[k]) for k in start)

    # evaluation of the end of SFT at 1 and at 5 attempts
    rows = {}
    for attempts in (1, 5):
        at = config.profile("chat-smoke", model_base=str(folder), eval_attempts=attempts)
        rows[attempts] = {r["split"]: r for r in checkpoint.evaluate_run(sft, at, steps=[end])}
        assert sorted(rows[attempts]) == sorted(checkpoint.SPLITS)
        for r in rows[attempts].values():
            assert r["step"] == end and r["attempts"] == attempts and r["n"] == cfg.eval.max_hands
            assert 0 <= r["accuracy_1"] <= r["accuracy"] <= 1 and 0 <= r["format_error_rate"] <= 1
            assert len(r["solved_at"]) == r["n"] and all(int(c, 16) <= attempts for c in r["solved_at"])
            assert math.isfinite(r["train_loss"]) and r["train_loss"] < 2.0  # the SFT answers were learned
    for split in checkpoint.SPLITS:  # greedy: the first attempts of both evaluations are the same
        assert rows[5][split]["first_outcomes"] == rows[1][split]["first_outcomes"]
        assert rows[5][split]["accuracy_1"] == rows[1][split]["accuracy"]

    # the weight analyses on the Qwen2 checkpoints: spectra and masks, library and command line
    ends = [str(sft.checkpoint(end)), str(rl.checkpoint(cfg.rl.steps))]
    table = spectral.compare(folder, ends[1], k_frac=0.2)
    assert {r["kind"] for r in table} == {"embed", "q", "k", "v", "o", "gate", "up", "down"}
    assert all(math.isfinite(r[k]) for r in table for k in ("spectral_drift", "mean_rel_dsigma", "max_angle_u"))
    report = masks_report.report(folder, ends, settings=masks_report.Settings())
    assert len(report.runs) == 2 * len(table) and len(report.consistency) == len(table)
    for row in report.runs:
        assert all(math.isfinite(x) for x in (row.sparsity, row.principal, row.low, row.drift, row.angle))
        assert row.density > 0  # SFT and RL wrote everywhere in fp32
    assert all(math.isfinite(c.jaccard) for c in report.consistency)
    out = tmp_path / "tables"
    assert main(["spectra", str(folder), *ends, "--quiet", "--out", str(out / "spectra.csv")]) == 0
    assert main(["masks", str(folder), *ends, "--quiet", "--by", "kind", "--out", str(out / "masks.csv")]) == 0
    capsys.readouterr()
    spectra_rows = list(csv.DictReader((out / "spectra.csv").open()))
    assert len(spectra_rows) == 2 * len(table)
    assert all(math.isfinite(float(r["drift"])) for r in spectra_rows)
    mask_rows = list(csv.DictReader((out / "masks.csv").open()))
    assert {r["type"] for r in mask_rows} == {"embed", "q", "k", "v", "o", "gate", "up", "down"}
    assert all(math.isfinite(float(r["sparsity"])) for r in mask_rows)
    assert (out / "masks.consistency.csv").is_file()


def test_the_chat_smoke_profile_starts_from_the_tiny_chat_model():
    from sftrl import paths

    cfg = config.profile("chat-smoke")
    folder = Path(train.base_source(cfg))
    assert folder.parent == paths.DATA and folder.name.startswith(f"{config.TINY_CHAT_BASE}-")
    assert (folder / "model.safetensors").is_file() and train.base_checkpoint(cfg) == folder
    train.check_inputs(cfg)  # a model folder whose tokenizer has a chat template


@pytest.mark.slow
def test_every_page_of_the_book_builds_on_the_tiny_chat_model(chat_smoke_book):
    """`make book PROFILE=chat-smoke`: every page runs its pipeline on the chat path."""
    for name in execute.toc_notebooks():
        assert (chat_smoke_book.site / "figures" / f"{name}.html").is_file(), name
    runs = sorted(p.name.split("-")[0] for p in (chat_smoke_book.data / "runs").iterdir())
    assert "sft" in runs and "rl" in runs and "pretrain" not in runs  # a Hugging Face base: no pretraining
    methods = (chat_smoke_book.site / "figures" / "09_methods.html").read_text()
    assert "tiny Qwen2-style chat model" in methods and "ChatML chat template" in methods
    assert str(chat_smoke_book.data) not in methods  # the model is named, not located


@pytest.mark.slow
@pytest.mark.skipif(site_check.find_chromium() is None, reason="Chromium is not installed (make browser installs it)")
def test_the_chat_smoke_book_passes_the_browser_check(chat_smoke_book, tmp_path):
    reports = site_check.check_site(chat_smoke_book.site, screenshots=tmp_path / "shots", timeout=300)
    assert [f"{r.path}: {p}" for r in reports for p in r.problems] == []
