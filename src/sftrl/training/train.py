"""The three training stages, with trl's trainers, cached and resumable.

* :func:`pretrain` — the small base, from scratch, on the mixed-rule corpus (trl
  ``SFTTrainer``, loss on the answer tokens). The cpu profile uses the committed copy in
  ``data/base`` instead (``make base`` rebuilds it).
* :func:`sft` — ID-rule, strict-format SFT with dense early checkpoints (``SFTTrainer``).
* :func:`rl` — RL from one SFT checkpoint with ``GRPOTrainer`` and the verifier's reward.

Each returns at once when the run already exists (see :mod:`sftrl.training.runs`); a killed run
resumes from its last complete checkpoint.

Usage::

    cfg = config.profile("cpu")
    sft_run = train.sft(cfg)
    rl_run = train.rl(cfg, from_step=100)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from sftrl import config, paths
from sftrl.task import corpus
from sftrl.task import game
from sftrl.config import StudyConfig
from sftrl.errors import SftrlError
from sftrl.task.prompts import compact_context, get_format
from sftrl.training import launch
from sftrl.training.runs import Run, append_jsonl
from sftrl.identity import checkpoint_identity
from sftrl.provenance import code_key, record

log = logging.getLogger("sftrl")

#: files of an HF Trainer checkpoint needed only to resume; dropped from older checkpoints
_RESUME_ONLY = ("optimizer.pt", "scheduler.pt", "scaler.pt")


# --------------------------------------------------------------------------- helpers
def setup_torch(threads: int) -> None:
    """One process, ``threads`` torch threads (never oversubscribe the cores), quiet libraries."""
    torch.set_num_threads(max(1, threads))
    # a prototype saw a progressive slowdown on CPU that stopped with this setting
    torch.set_flush_denormal(True)
    quiet_libraries()


def quiet_libraries() -> None:
    """Only the trainer's own progress bar (in a terminal) and our summary lines remain.

    The loading/tokenising bars of datasets and transformers, and trl 1.16's use of
    names transformers 5 deprecated, would otherwise fill every notebook's output.
    """
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.*deprecated", category=FutureWarning)


def device_of(cfg: StudyConfig) -> str:
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise SftrlError("device='cuda' asked for, but no CUDA device is present")
    return cfg.device


def _interactive() -> bool:
    """Progress bars and summary lines only in a terminal, never in the rendered book."""
    return sys.stderr.isatty()


def _say(message: str) -> None:
    if _interactive():
        print(f"[sftrl] {message}", file=sys.stderr, flush=True)


def _dtype(name: str) -> torch.dtype:
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise SftrlError(f"unknown dtype {name!r}; choose float32, bfloat16 or float16") from None


class _KeepSteps(TrainerCallback):
    """Save a checkpoint exactly at the listed steps (dense early, sparse later)."""

    def __init__(self, steps: Iterable[int]):
        self.steps = set(steps)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            control.should_save = True
        return control


class _JsonlLog(TrainerCallback):
    """Append every training log (loss, reward, learning rate...) to metrics.jsonl."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:
            append_jsonl(self.path, {"step": state.global_step, **logs})


class _PruneResumeState(TrainerCallback):
    """Keep optimizer state only in the newest checkpoint: older ones are for analysis."""

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:  # one process of a launch tidies the folder
            return control
        ckpts = sorted(Path(args.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        for old in ckpts[:-1]:
            for name in _RESUME_ONLY:
                (old / name).unlink(missing_ok=True)
            for rng in old.glob("rng_state*.pth"):
                rng.unlink()
        return control


def _common_args(cfg: StudyConfig, run: Run, *, steps: int, lr: float, seed: int) -> dict[str, Any]:
    device = device_of(cfg)
    return dict(
        output_dir=str(run.dir),
        max_steps=steps,
        learning_rate=lr,
        logging_steps=max(1, min(10, steps // 20)),
        save_strategy="no",  # checkpoints are kept by _KeepSteps at the configured steps
        report_to="none",
        use_cpu=device == "cpu",
        bf16=device == "cuda" and cfg.model.dtype == "bfloat16",
        seed=seed,
        data_seed=seed,
        disable_tqdm=not _interactive(),
        dataloader_num_workers=0,
        save_only_model=False,
        gradient_checkpointing=cfg.gradient_checkpointing,
    )


def _quiet(trainer) -> None:
    """No per-step log lines in notebooks (metrics go to metrics.jsonl)."""
    trainer.remove_callback(PrinterCallback)


@contextlib.contextmanager
def _held(run: Run) -> Iterator[bool]:
    """The run held for training: yields whether it still needs it.

    One process holds the run's lock (the main one, under a launcher: see
    :mod:`sftrl.training.launch`), finds whether another training finished it meanwhile,
    writes its configuration and removes checkpoints a killed process left half-written.
    Every process of the launch waits for that, so all of them see the same folder.
    """
    with run.lock():
        if launch.is_main() and not run.is_done:
            run.prepare()
            run.remove_incomplete_checkpoints()
        launch.barrier()
        yield not run.is_done


def _train(trainer, run: Run) -> int:
    """Train, resuming from the newest complete checkpoint; return the step resumed from."""
    last = run.last_checkpoint()
    if last is not None and not (last / "optimizer.pt").exists():
        last = None  # an older checkpoint without optimizer state cannot be resumed exactly
    if last is not None:
        _say(f"{run.id}: resuming from {last.name}")
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    return int(last.name.split("-")[1]) if last else 0


def _finish(run: Run, trainer, t0: float, steps: int, resumed_from: int,
            extra: dict[str, Any] | None = None) -> None:
    final = run.dir / f"checkpoint-{steps}"
    launch.barrier()
    missing = not (final / "trainer_state.json").exists()  # the same answer in every process
    launch.barrier()
    if missing:
        trainer.save_model(str(final))  # the last step is always kept (every process: a sharded model saves together)
        if launch.is_main():
            trainer.state.save_to_json(str(final / "trainer_state.json"))
    if launch.is_main():
        seconds = round(time.time() - t0, 1)
        # wall time since the run's folder was made, across kills and resumptions
        wall = round(time.time() - (run.dir / "config.json").stat().st_mtime, 1)
        run.mark_done({"steps": steps, "seconds": seconds, "wall_seconds": wall, "resumed_from": resumed_from,
                      "processes": launch.world_size(), "checkpoints": sorted(run.checkpoints()), **(extra or {})})
        _say(f"{run.id}: {steps} steps in {seconds} s, {len(run.checkpoints())} checkpoints kept")
    launch.barrier()  # the others return once the run is marked done


def load(name_or_path: str | Path, cfg: StudyConfig):
    """``(model, tokenizer)`` of a checkpoint or hub id, in ``cfg``'s dtype on ``cfg``'s device
    (on the CPU under a launcher: the trainer places each process's copy on its own device)."""
    from sftrl.training.model import load_model

    quiet_libraries()
    device = "cpu" if launch.world_size() > 1 else device_of(cfg)
    return load_model(name_or_path, dtype=_dtype(cfg.model.dtype), device=device)


def check_inputs(cfg: StudyConfig, processes: int | None = None) -> None:
    """What a stage needs before any work, each refusal one SftrlError naming the setting:

    * the launch's processes (``processes``, default this launch's) divide every batch
      the stages share out over them (:mod:`sftrl.training.launch`);
    * a Hugging Face base is a model folder or a hub id this machine can reach, with a chat
      template when the answer format is ``"chat"`` (:func:`check_base`);
    * the small base speaks the compact format, in a context long enough for the episodes.
    """
    r = cfg.rl
    batches = {"sft_batch_size": cfg.sft.batch_size,
               "rl_prompts_per_step x rl_num_generations": r.prompts_per_step * r.num_generations}
    if cfg.model.base == "small":
        batches["pretrain_batch_size"] = cfg.pretrain.batch_size
    for name, batch in batches.items():
        launch.check_divides(name, batch, processes)
    if cfg.model.base != "small":
        check_base(cfg)
        return
    if cfg.model.answer_format != "compact":
        raise SftrlError("the small base speaks only the compact format; use answer_format='compact'")
    for name, attempts, tokens in (("eval", cfg.eval.attempts, cfg.eval.max_new_tokens),
                                   ("rl", cfg.rl.attempts, cfg.rl.max_completion_length)):
        need = compact_context(attempts, tokens)
        if need > cfg.model.context:
            raise SftrlError(
                f"model_context={cfg.model.context} is too short for {name}_attempts={attempts} of "
                f"{tokens} tokens each: an episode can need {need} positions; raise model_context or "
                f"lower {name}_attempts")


def base_source(cfg: StudyConfig) -> str | Path:
    """A Hugging Face base's folder or hub id: :data:`sftrl.config.TINY_CHAT_BASE` is the
    project's tiny chat model, built on first use under ``data/`` in a folder named by the
    digest of the code that builds it (:mod:`sftrl.training.tiny_chat`)."""
    if cfg.model.base == config.TINY_CHAT_BASE:
        from sftrl.provenance import code_digest
        from sftrl.training import tiny_chat

        quiet_libraries()  # no "writing model shards" bar on a page
        # one folder per version of the code that builds it: a changed builder builds anew
        return tiny_chat.ensure(paths.DATA / f"{config.TINY_CHAT_BASE}-{code_digest('sftrl.training.tiny_chat')}")
    return cfg.model.base


def check_base(cfg: StudyConfig) -> None:
    """SftrlError naming ``model_base`` unless it is a model folder or a hub id this machine
    can reach (its configuration loads), and, under ``model_answer_format="chat"``, its
    tokenizer has a chat template (checked once per process)."""
    _check_base(str(base_source(cfg)), cfg.model.answer_format == "chat")


@functools.lru_cache(maxsize=None)
def _check_base(source: str, chat: bool) -> None:
    from transformers import AutoConfig, AutoTokenizer

    from sftrl.training.model import WEIGHT_FILES

    quiet_libraries()
    folder = Path(source).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file() or not any((folder / f).is_file() for f in WEIGHT_FILES):
            raise SftrlError(f"model_base={source!r} is a folder without a Hugging Face model in it "
                             f"(config.json and {' or '.join(WEIGHT_FILES)})")
    else:
        try:
            AutoConfig.from_pretrained(source)
        except (OSError, ValueError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SftrlError(f"model_base={source!r} is neither a model folder nor a hub id this machine can "
                             f"reach ({reason})") from None
    if chat:
        try:
            template = getattr(AutoTokenizer.from_pretrained(source), "chat_template", None)
        except (OSError, ValueError) as err:
            raise SftrlError(f"model_base={source!r}: its tokenizer does not load ({err})") from None
        if not template:
            raise SftrlError(f"model_base={source!r} has no chat template, which model_answer_format='chat' "
                             "needs: use an instruct/chat model, or model_answer_format='compact'")


# --------------------------------------------------------------------------- pretraining
def _small_model_config(cfg: StudyConfig):
    from sftrl.training.model import SmallModelConfig

    m = cfg.model
    return SmallModelConfig(hidden_size=m.hidden_size, intermediate_size=m.intermediate_size,
                            num_hidden_layers=m.num_hidden_layers, num_attention_heads=m.num_attention_heads,
                            num_key_value_heads=m.num_attention_heads, max_position_embeddings=m.context)


def _model_identity(cfg: StudyConfig) -> dict[str, Any]:
    m = dataclasses.asdict(cfg.model)
    if m["base"] != "small":  # architecture fields do not apply to a Hugging Face base
        for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "context"):
            m.pop(k)
    return m


def pretrain_run(cfg: StudyConfig, root: Path | None = None) -> Run:
    """The pretraining run of this configuration (not started)."""
    return Run("pretrain", {**code_key("sftrl.training.train"), "model": _model_identity(cfg),
                            "pretrain": dataclasses.asdict(cfg.pretrain), "split_seed": cfg.split_seed}, root=root)


def pretrain(cfg: StudyConfig) -> Run:
    """Pretrain the small base from scratch on the mixed-rule corpus (cached)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from sftrl.training.model import build_model, build_tokenizer

    if cfg.model.base != "small":
        raise SftrlError(f"pretraining applies to the small base only, not {cfg.model.base!r}")
    check_inputs(cfg)
    run = pretrain_run(cfg)
    if run.is_done:
        return run
    setup_torch(cfg.threads)
    p = cfg.pretrain
    batch = launch.per_process("pretrain_batch_size", p.batch_size)
    with _held(run) as todo:
        if not todo:
            return run
        t0 = time.time()
        tokenizer = build_tokenizer()
        model = build_model(_small_model_config(cfg), tokenizer, seed=p.seed)
        fmt = get_format("compact")
        data = Dataset.from_list(corpus.pretrain_examples(p, fmt, corpus.splits(cfg.split_seed)))
        keep = sorted({*range(250, p.steps, 250), p.steps})
        args = SFTConfig(**_common_args(cfg, run, steps=p.steps, lr=p.lr, seed=p.seed),
                         per_device_train_batch_size=batch, warmup_steps=p.warmup_steps,
                         lr_scheduler_type="cosine", completion_only_loss=True, max_length=cfg.model.context,
                         dataset_num_proc=None,
                         # revision transcripts are 2-4x a single answer: batch like lengths together
                         train_sampling_strategy="group_by_length")
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                             callbacks=[_KeepSteps(keep), _JsonlLog(run.dir / "metrics.jsonl"), _PruneResumeState()])
        _quiet(trainer)
        _finish(run, trainer, t0, p.steps, _train(trainer, run))
    return run


def base_checkpoint(cfg: StudyConfig) -> str | Path:
    """Where SFT starts: a Hugging Face id/path, the committed base, or a pretraining run."""
    if cfg.model.base != "small":
        return base_source(cfg)
    if committed_base_config() == base_identity(cfg):
        return paths.BASE
    run = pretrain(cfg)
    return run.checkpoint(cfg.pretrain.steps)


def base_identity(cfg: StudyConfig) -> dict[str, Any]:
    """What identifies the small base ``cfg`` pretrains (as the committed base records it):
    its architecture, its pretraining and the hand split."""
    return json.loads(json.dumps({"model": _model_identity(cfg), "pretrain": dataclasses.asdict(cfg.pretrain),
                                  "split_seed": cfg.split_seed}))


def committed_base_config() -> dict[str, Any] | None:
    """The configuration the committed base was pretrained with, or None if absent."""
    meta = paths.BASE / "sftrl_base.json"
    if not meta.is_file() or not (paths.BASE / "model.safetensors").is_file():
        return None
    return json.loads(meta.read_text())["config"]


def freeze_base(cfg: StudyConfig) -> Path:
    """Copy the pretraining run's final checkpoint to ``data/base`` (``make base``)."""
    run = pretrain(cfg)
    src = run.checkpoint(cfg.pretrain.steps)
    tmp = paths.BASE.with_name("base.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in (*_RESUME_ONLY, "training_args.bin") and not f.name.startswith("rng_state"):
            shutil.copy2(f, tmp / f.name)
    summary = run.summary()
    meta = {"config": base_identity(cfg), "run": run.id, "seconds": summary.get("wall_seconds", summary["seconds"]),
            "made_by": record("sftrl.training.train")}
    (tmp / "sftrl_base.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if paths.BASE.exists():
        shutil.rmtree(paths.BASE)
    tmp.rename(paths.BASE)
    return paths.BASE


# --------------------------------------------------------------------------- SFT
def sft_run(cfg: StudyConfig, start: str | Path | None = None) -> Run:
    """The SFT run of this configuration (not started); ``start`` defaults to the base."""
    parent = base_checkpoint(cfg) if start is None else start
    return Run("sft", {**code_key("sftrl.training.train"), "parent": checkpoint_identity(parent),
                       "model": _model_identity(cfg), "sft": dataclasses.asdict(cfg.sft),
                       "split_seed": cfg.split_seed})


def sft(cfg: StudyConfig, start: str | Path | None = None) -> Run:
    """Supervised fine-tuning on ID-rule hands in the strict format (cached).

    ``start``: the checkpoint to fine-tune (default: the base). Paper B's SFT contrast
    continues SFT from the checkpoint an RL run started from, for a comparable budget.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    check_inputs(cfg)
    run = sft_run(cfg, start)
    if run.is_done:
        return run
    setup_torch(cfg.threads)
    s = cfg.sft
    batch = launch.per_process("sft_batch_size", s.batch_size)
    with _held(run) as todo:
        if not todo:
            return run
        t0 = time.time()
        model, tokenizer = load(base_checkpoint(cfg) if start is None else start, cfg)
        fmt = get_format(cfg.model.answer_format)
        examples = corpus.sft_examples(s, fmt, corpus.splits(cfg.split_seed).sft,
                                       tokenizer if fmt.name == "chat" else None)
        args = SFTConfig(**_common_args(cfg, run, steps=s.steps, lr=s.lr, seed=s.seed),
                         per_device_train_batch_size=batch, warmup_steps=s.warmup_steps,
                         lr_scheduler_type="constant_with_warmup", completion_only_loss=True,
                         max_length=512)
        keep = sorted({*s.checkpoints, s.steps} - {0})
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(examples),
                             processing_class=tokenizer,
                             callbacks=[_KeepSteps(keep), _JsonlLog(run.dir / "metrics.jsonl"), _PruneResumeState()])
        _quiet(trainer)
        _finish(run, trainer, t0, s.steps, _train(trainer, run), {"examples": len(examples)})
    return run


# --------------------------------------------------------------------------- RL
def rl_hands(cfg: StudyConfig) -> list[game.Hand]:
    """The ID hands RL prompts come from (see ``RLConfig.hands`` / ``hand_subset``)."""
    r = cfg.rl
    s = corpus.splits(cfg.split_seed)
    hands = {"rl": s.rl, "sft": s.sft}.get(r.hands)
    if hands is None:
        raise SftrlError(f"unknown RL hand set {r.hands!r}; choose 'rl' or 'sft'")
    if r.hand_subset == "all":
        return list(hands)
    if r.hand_subset not in ("half0", "half1"):
        raise SftrlError(f"unknown hand_subset {r.hand_subset!r}; choose all, half0 or half1")
    half0, half1 = corpus.halves(hands, game.ID_RULE, seed=cfg.split_seed)
    return half0 if r.hand_subset == "half0" else half1


def mlp_permutations(model, seed: int) -> dict[int, torch.Tensor]:
    """One reproducible hidden-unit permutation per block (paper B's geometry disruption)."""
    from sftrl.weights.masks import random_permutation

    n = model.config.intermediate_size
    return {i: random_permutation(n, seed + i) for i in range(model.config.num_hidden_layers)}


def value_rotations(model, seed: int) -> dict[int, torch.Tensor]:
    """One reproducible set of per-kv-head value rotations per block, shape
    ``(n_kv_heads, head_dim, head_dim)`` (paper B's geometry disruption, by rotation)."""
    from sftrl.weights.masks import random_rotations

    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    n_kv = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    return {i: random_rotations(n_kv, head_dim, seed + i) for i in range(c.num_hidden_layers)}


def _prepare_rl_model(model, r) -> None:
    """Apply the RL variant's change of coordinates and gradient restriction, in place."""
    from sftrl.weights import masks

    if r.grad_mask not in ("none", "off_principal", "principal", "random"):
        raise SftrlError(f"unknown grad_mask {r.grad_mask!r}; choose none, off_principal, principal or random")
    if r.permute_seed >= 0:
        for layer, perm in mlp_permutations(model, r.permute_seed).items():
            masks.permute_mlp_hidden(model, layer, perm)
    if r.rotate_seed >= 0:
        for layer, rotations in value_rotations(model, r.rotate_seed).items():
            masks.rotate_attention_values(model, layer, rotations)
    if r.grad_mask != "none":
        allowed = masks.make_gradient_masks(model, r.grad_mask, r.grad_mask_alpha, r.grad_mask_rank, seed=r.seed)
        masks.apply_gradient_masks(model, allowed)  # hooks live as long as the model


def rl_run(cfg: StudyConfig, from_step: int) -> Run:
    """The RL run that starts from SFT step ``from_step`` (not started)."""
    parent = sft_run(cfg)
    return Run("rl", {**code_key("sftrl.training.train"), "parent": {"run": parent.id, "step": from_step},
                      "model": _model_identity(cfg), "rl": dataclasses.asdict(cfg.rl),
                      "split_seed": cfg.split_seed})


def start_checkpoint(cfg: StudyConfig, step: int) -> str | Path:
    """The SFT checkpoint at ``step`` (step 0 is the base)."""
    return base_checkpoint(cfg) if step == 0 else sft(cfg).checkpoint(step)


def rl(cfg: StudyConfig, from_step: int) -> Run:
    """GRPO from the SFT checkpoint at ``from_step`` on multi-turn episodes (cached).

    Each rollout is an episode of up to ``cfg.rl.attempts`` attempts with the verifier's
    feedback between them (:mod:`sftrl.training.rollout`); trl's ``env_mask`` keeps the
    feedback tokens out of the loss, and the reward is the episode's (``cfg.rl.reward``).
    """
    import os

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from sftrl.training.rollout import episode_reward, rollout_func

    check_inputs(cfg)
    r = cfg.rl
    if r.steps < 1 or r.num_generations < 2:
        raise SftrlError(f"RL needs steps >= 1 and num_generations >= 2, got {r.steps} and {r.num_generations}")
    parent_run = sft(cfg)
    start = start_checkpoint(cfg, from_step)  # validates from_step before any work
    run = rl_run(cfg, from_step)
    if run.is_done:
        return run
    setup_torch(cfg.threads)
    # one step's episodes (prompts x group) for the whole launch, shared out evenly
    batch = launch.per_process("rl_prompts_per_step x rl_num_generations", r.prompts_per_step * r.num_generations)
    with _held(run) as todo:
        if not todo:
            return run
        t0 = time.time()
        model, tokenizer = load(start, cfg)
        model = model.to(_dtype(r.dtype))
        _prepare_rl_model(model, r)
        fmt = get_format(cfg.model.answer_format)
        hands = rl_hands(cfg)
        rows = corpus.rl_prompts(fmt, hands, game.ID_RULE, tokenizer if fmt.name == "chat" else None)
        episode_tokens = r.attempts * (r.max_completion_length + 32)  # attempts and verifier turns
        args = GRPOConfig(**_common_args(cfg, run, steps=r.steps, lr=r.lr, seed=r.seed),
                          per_device_train_batch_size=batch,
                          num_generations=r.num_generations, beta=r.beta, temperature=r.temperature,
                          max_completion_length=episode_tokens, lr_scheduler_type="constant",
                          warmup_steps=0)
        keep = sorted({*r.checkpoints, r.steps} - {0})
        play = rollout_func(rows, fmt, tokenizer, attempts=r.attempts, max_new_tokens=r.max_completion_length,
                            temperature=r.temperature, reward=r.reward, feedback=cfg.eval.feedback)
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental
        trainer = GRPOTrainer(model=model, reward_funcs=episode_reward, args=args,
                              train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                              rollout_func=play,
                              callbacks=[_KeepSteps(keep), _JsonlLog(run.dir / "metrics.jsonl"),
                                         _PruneResumeState()])
        _quiet(trainer)
        _finish(run, trainer, t0, r.steps, _train(trainer, run), {"parent": parent_run.id, "from_step": from_step})
    return run


