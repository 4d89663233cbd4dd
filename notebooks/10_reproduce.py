# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (sftrl)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reproduce
#
# How to rebuild this book, rerun one figure with other settings, run it at paper scale on
# a GPU, and analyse any pair of checkpoints with the same code. The times quoted are
# read from the committed benchmark snapshot and the committed base's record; the GPU
# figures are estimates and say so.

# %%
from pathlib import Path
from typing import Optional

from sftrl import config
from sftrl.book import execute, methods, pages, reproduce

# %% tags=["parameters"]
bench_file: Optional[str] = None  # benchmark to quote (None: bench/results/book.json)

# %%
snapshot = reproduce.bench_snapshot(Path(bench_file) if bench_file
                                    else reproduce.BENCH_BOOK)
base_record = methods.base_record()
cpu, gpu = config.profile("cpu"), config.profile("gpu")
estimates = reproduce.gpu_estimates(gpu)

# %% [markdown]
# ## The two commands
#
# On a fresh clone (Python 3.11 or newer and `make`), these are the whole set-up; the
# first creates the project's virtual environment `.venv`:
#
# ```bash
# make book   # execute the out-of-date notebooks, build the site into _build/html
# make test   # the test suite, and a smoke build of the book checked in headless Chromium
# ```
#
# {glue:text}`budget_sentence`

# %%
reproduce.stage_table(snapshot)  # nothing when no snapshot is committed

# %% [markdown]
# The small base model every figure starts from is committed under `data/base`, so that a
# build does not have to pretrain it. {glue:text}`base_sentence` To rebuild it from
# scratch, deterministically, with the cpu profile's pretraining settings:
#
# ```bash
# make base
# ```
#
# ## Rerunning one figure with other parameters
#
# Every figure page is a notebook whose first code cell after the imports, tagged
# `parameters`, lists its settings with their meaning. List them:
#
# ```bash
# .venv/bin/python -m sftrl.book --help-notebook 01_ood_peak_and_decline
# ```

# %%
print(execute.format_help("01_ood_peak_and_decline",
                          execute.notebook_parameters("01_ood_peak_and_decline")))

# %% [markdown]
# Then rerun that page with papermill-style overrides, `-p NAME VALUE`, typed as papermill
# types them (`7` an int, `3e-4` a float, `True` a bool), for example SFT at learning rate
# 3e-4 instead of the default profile's {glue:text}`cpu_sft_lr`:
#
# ```bash
# make figure NB=01_ood_peak_and_decline ARGS="-p sft_lr 3e-4"
# ```
#
# This re-executes `notebooks/01_ood_peak_and_decline.py` with `sft_lr = 3e-4` and
# rebuilds the site. A new learning rate is a new configuration, so the pipeline trains a
# new SFT run and new RL runs for it (cached under `data/runs/` beside the default ones).
# {glue:text}`rerun_sentence` The page then carries a note naming the override; the
# claims page keeps judging the default runs. A later plain `make book` sees that the
# parameters differ from the defaults and re-executes the page with the defaults, reusing
# the cached default runs. To write the executed notebook elsewhere without touching the
# site:
#
# ```bash
# .venv/bin/python -m sftrl.book run 01_ood_peak_and_decline --out /tmp/fig1.ipynb \
#     -p sft_lr 3e-4
# ```
#
# The same with plain papermill, converting the text notebook with jupytext first:
#
# ```bash
# .venv/bin/jupytext --to ipynb notebooks/01_ood_peak_and_decline.py -o /tmp/fig1.ipynb
# .venv/bin/papermill --help-notebook /tmp/fig1.ipynb
# .venv/bin/papermill /tmp/fig1.ipynb /tmp/fig1-out.ipynb -k python3 -p sft_lr 3e-4
# ```
#
# (`python -m sftrl.book` does the same and in addition checks the parameter names before
# starting, makes sure the kernel is this environment's Python, hides papermill's
# injected cell and refuses outputs a reader should not see.)
#
# ## At paper scale, on a GPU
#
# The `gpu` profile runs the same pipeline on a Hugging Face chat model with the papers'
# prompt and JSON answer. It differs from the default `cpu` profile in these settings:

# %%
reproduce.profile_table("cpu", "gpu")

# %% [markdown]
# Build the whole book with it (every page receives `profile = "gpu"`; the site goes to
# `_build/gpu/_build/html`), with another model for every page (`MODEL`, a hub id or a
# local folder, reaches each page that trains as its `model_base` parameter), or run one
# page alone:
#
# ```bash
# make book PROFILE=gpu
# make book PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct
# .venv/bin/python -m sftrl.book run 01_ood_peak_and_decline --out /tmp/fig1-gpu.ipynb \
#     -p profile gpu -p model_base Qwen/Qwen2.5-0.5B-Instruct
# ```
#
# The model is downloaded from the Hugging Face hub on first use (or give a local folder
# where there is no network). What to expect, **as estimates, not measurements** (this
# book was built without a GPU): the weights, gradients and AdamW states of
# {glue:text}`gpu_model` ({glue:text}`gpu_params_b:.2f` billion parameters) take about
# {glue:text}`gpu_state_gb:.0f` GB in bf16, with activations on top (the logits over a
# large vocabulary dominate them; lower the batch size if memory runs out). SFT of
# {glue:text}`gpu_sft_steps` steps of {glue:text}`gpu_sft_batch` sequences is about
# {glue:text}`gpu_sft_minutes:.0f` minutes of compute on one H100, assuming
# {glue:text}`assumed_tokens` tokens per example and {glue:text}`assumed_utilisation:.0%`
# of the GPU's bf16 peak. RL is bound by sampling: {glue:text}`gpu_rl_steps` steps of
# episodes of up to {glue:text}`gpu_rl_attempts` attempts of {glue:text}`gpu_rl_tokens`
# generated tokens, at an assumed {glue:text}`assumed_decode_s` s per decoding step of the
# whole batch, is about {glue:text}`gpu_rl_minutes:.0f` minutes
# per run, and Figure 1 runs {glue:text}`gpu_rl_runs` of them; the evaluations of every
# checkpoint and the mask study's runs come on top. The same estimates per stage, for
# two sizes of the model family:

# %%
reproduce.estimate_table(gpu)

# %% [markdown]
# ## Training outside the notebooks, on one GPU or many
#
# A page trains the runs it reads when it first needs them, which suits a laptop. At paper
# scale, compute every run first, where the GPUs are, with `make runs`: it trains each run
# the book reads (SFT, every RL run of Figure 1's window, the mask study's and the probe's
# runs) through `python -m sftrl job NAME`, and a later `make book` finds them all
# in `data/runs/` and only reads them. `python -m sftrl plan` lists the jobs. A
# finished run is never trained twice, and a killed one resumes.
#
# `LAUNCHER` is any command prefix that runs each job: with `accelerate launch`, every job
# trains on several GPUs through accelerate and trl's own distributed support (DDP; give
# accelerate a DeepSpeed ZeRO or FSDP config file instead for models that do not fit one
# GPU). Only the main process writes a run's folder, and the others wait for it. The
# batches in the settings are per step, for all processes together, so a launch trains the
# same runs as one GPU; a process count that does not divide a batch is refused before any
# job starts.
#
# ```bash
# # one GPU
# make runs PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct
# make book PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct
#
# # the 8 GPUs of one node, DDP through accelerate
# make runs PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct \
#     LAUNCHER="accelerate launch --multi_gpu --num_processes 8"
# make book PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct
#
# # DeepSpeed ZeRO or FSDP: accelerate's own config file (accelerate config writes one)
# make runs PROFILE=gpu MODEL=Qwen/Qwen2.5-7B-Instruct \
#     LAUNCHER="accelerate launch --config_file zero3.yaml"
# ```
#
# On a Slurm cluster, one job on one node calls the same targets (the evaluations in `make
# book` want the GPU too):
#
# ```bash
# #!/bin/bash
# #SBATCH --job-name=sftrl
# #SBATCH --nodes=1
# #SBATCH --gpus-per-node=8
# #SBATCH --cpus-per-task=32
# #SBATCH --time=24:00:00
# cd "$SLURM_SUBMIT_DIR"
# make runs PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct \
#     LAUNCHER="accelerate launch --multi_gpu --num_processes 8"
# make book PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct
# ```
#
# On a CPU, accelerate starts several processes only with `--multi_gpu` (they then talk
# over gloo): `accelerate launch --num_processes 2` alone starts one. The tests train the
# smoke profile's SFT run that way, with two processes. These settings of the gpu profile
# do nothing on a CPU:

# %%
reproduce.gpu_only_table()

# %% [markdown]
# The chat path itself (the papers' JSON answer through a chat template, SFT with the loss
# on the assistant's tokens only, multi-turn RL with the verifier's feedback, evaluation
# with up to five attempts, the spectral and mask analyses) runs on a CPU with the
# `chat-smoke` profile: a tiny Qwen2-style model the project builds with its own
# tokenizer and chat template, loaded like a hub model. `make book PROFILE=chat-smoke`
# builds every page on it in `_build/chat-smoke/`.
#
# ## The spectral and mask analyses on any checkpoints
#
# The analyses read Hugging Face checkpoint folders (safetensors, sharded or not), so
# they apply to any base and fine-tuned pair with the same architecture. Per-matrix
# spectral drift, mean |Δσ|/σ and principal angles of one or more checkpoints against a
# base, as a table and a CSV file:
#
# ```bash
# .venv/bin/python -m sftrl spectra BASE OTHER --out spectra.csv
# ```
#
# Paper B's public pair, downloaded first (weights and configuration only):
#
# ```bash
# .venv/bin/hf download deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \
#     --include "*.json" "*.safetensors" --local-dir ckpt/base
# .venv/bin/hf download agentica-org/DeepScaleR-1.5B-Preview \
#     --include "*.json" "*.safetensors" --local-dir ckpt/rl
# .venv/bin/python -m sftrl spectra ckpt/base ckpt/rl --kinds q,k,v,o,down \
#     --out spectra.csv
# ```
#
# Paper B's own questions for a base and one or more runs from it: update sparsity in the
# bitwise and the tolerance form, the share of the principal and the low-magnitude
# weights updated beside chance, spectral drift and, for two or more runs, their
# consistency against the independence baseline; one matrix at a time, with one
# matrix's consistency image (`ckpt/rl2`: a second RL run of the same base):
#
# ```bash
# .venv/bin/python -m sftrl masks ckpt/base ckpt/rl ckpt/rl2 --kinds q,k,v,o,down \
#     --by kind --image 14.o consistency-14-o.png --out masks.csv
# ```
#
# The figure pages take checkpoints as parameters too. The update-mask page needs the base
# and at least two RL checkpoints trained from it (for the consistency across runs), and
# optionally SFT checkpoints; the spectral pages take the four models of paper A:
#
# ```bash
# .venv/bin/python -m sftrl.book run 06_rlvr_stripe_masks --out /tmp/masks.ipynb \
#     -p base_path ckpt/base -p rl_paths ckpt/rl,ckpt/rl2 -p sft_paths ckpt/sft \
#     -p kinds q,k,v,o,down
# .venv/bin/python -m sftrl.book run 03_principal_angles --out /tmp/angles.ipynb \
#     -p base ckpt/base -p sft_peak ckpt/sft-peak -p sft_end ckpt/sft-end -p rl ckpt/rl
# ```

# %%
pages.glue_all({
    "budget_sentence": reproduce.budget_sentence(snapshot),
    "base_sentence": reproduce.base_rebuild_sentence(base_record),
    "rerun_sentence": reproduce.rerun_sentence(snapshot, "01_ood_peak_and_decline"),
    "cpu_sft_lr": cpu.sft.lr,
    "gpu_model": gpu.model.base,
    "gpu_params_b": estimates["n_params"] / 1e9,
    "gpu_state_gb": estimates["model_state_gb"],
    "gpu_sft_steps": gpu.sft.steps,
    "gpu_sft_batch": gpu.sft.batch_size,
    "gpu_sft_minutes": estimates["sft_minutes"],
    "gpu_rl_steps": gpu.rl.steps,
    "gpu_rl_tokens": gpu.rl.max_completion_length,
    "gpu_rl_attempts": gpu.rl.attempts,
    "gpu_rl_minutes": estimates["rl_minutes_per_run"],
    "gpu_rl_runs": int(estimates["rl_runs"]),
    "assumed_tokens": int(reproduce.GPU_ASSUMPTIONS["tokens_per_example"]),
    "assumed_utilisation": reproduce.GPU_ASSUMPTIONS["utilisation"],
    "assumed_decode_s": reproduce.GPU_ASSUMPTIONS["decode_step_s"],
})
