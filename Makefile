# sftrl — the two commands a newcomer needs are `make book` and `make test`.
# Each creates the project's own virtual environment (.venv) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# one torch thread per process: fastest for the tiny default model on a 2-core machine
export OMP_NUM_THREADS ?= 1
export PYTHONWARNINGS ?= ignore::DeprecationWarning

# ----------------------------------------------------------------------------- the book
# PROFILE picks the run size every notebook receives as parameter `profile`:
#   cpu (default) -> site in _build/html;  smoke (tests) -> _build/smoke/_build/html.
# jupyter-book writes its output to <path-output>/_build/html, hence the two roots.
PROFILE ?= cpu
# MODEL (optional): the model every notebook's pipeline fine-tunes, a Hugging Face hub id or
# a local folder, passed as parameter `model_base`; e.g. make book PROFILE=gpu MODEL=Qwen/Qwen2.5-1.5B-Instruct
MODEL ?=
model_arg := $(if $(MODEL),--model-base $(MODEL))
# LAUNCHER (optional): a command prefix that runs each training job of `make runs`, e.g.
#   LAUNCHER="accelerate launch --multi_gpu --num_processes 8" (DDP through accelerate; add
#   --config_file for DeepSpeed ZeRO or FSDP), or "srun python" on a cluster; empty: this Python.
LAUNCHER ?=
LAUNCH := $(if $(strip $(LAUNCHER)),$(LAUNCHER),$(PY))
# the launcher's process count (its --num_processes), checked against every batch before any job
NPROC := $(shell printf '%s\n' '$(LAUNCHER)' | sed -n 's/.*--num_processes[= ]\([0-9][0-9]*\).*/\1/p')
run_args = --profile $(PROFILE) $(if $(MODEL),--set model_base=$(MODEL))
ifeq ($(PROFILE),cpu)
PATH_OUTPUT := .
OUT := _build
else
PATH_OUTPUT := _build/$(PROFILE)
OUT := _build/$(PROFILE)/_build
endif
SITE := $(OUT)/html
STAGE := $(OUT)/book
SCREENSHOTS := $(OUT)/screenshots
SITE_STAMP := $(OUT)/.site-built

# The figure notebooks are the `figures/NAME` entries of the toc (notebooks/NAME.py):
# adding one to the book is one line in book/_toc.yml. (`python -m sftrl.book list` reads
# the same entries with a YAML parser; tests/test_book.py checks that the two agree.)
NOTEBOOKS := $(shell sed -n 's|^[[:space:]-]*file:[[:space:]]*figures/\([A-Za-z0-9_]*\).*|\1|p' book/_toc.yml)
SRC_PY := $(shell find src/sftrl -name '*.py')
# the committed records pages quote (benchmark snapshots, the study log, the base's record):
# a new snapshot re-executes the notebooks, so no page quotes an old one
RECORDS := $(wildcard bench/results/*.json book/study/*.json data/base/*.json)
BOOK_FILES := $(filter-out book/_toc.yml,$(shell find book -type f ! -name '.*'))
STAGED := $(BOOK_FILES:book/%=$(STAGE)/%)
EXECUTED := $(NOTEBOOKS:%=$(STAGE)/figures/%.ipynb)

# `make figure NB=x ARGS="-p key value"`: ARGS go to notebook x only
nb_args = $(if $(filter $(1),$(NB)),$(ARGS))

.PHONY: help venv test test-fast book smoke-book figure runs check-site browser base study readme bench clean list-notebooks FORCE
help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=cpu|smoke|chat-smoke|gpu  MODEL=<hub id or folder>  LAUNCHER=\"accelerate launch ...\"  NB=<notebook>  ARGS=\"-p key value ...\"  (notebooks: $(NOTEBOOKS))"

venv: $(STAMP)  ## create .venv and install the project (torch 2.13.0 pinned with trl/transformers)
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]" 2> >(grep -v "is ignored: it is neither" >&2)
	@touch $@

test: $(STAMP)  ## run the test suite (includes the smoke book and its browser check)
	-@$(MAKE) --no-print-directory -s browser || echo "note: Chromium could not be installed; the site tests will skip"
	$(PY) -m pytest

test-fast: $(STAMP)  ## the tests that neither train nor execute notebooks (-m "not slow", under a minute)
	$(PY) -m pytest -m "not slow"

book: $(SITE_STAMP)  ## execute the out-of-date notebooks (papermill), then build the site into _build/html
	@echo "book: $(SITE)/index.html"

smoke-book:  ## the book with PROFILE=smoke, in _build/smoke (what the tests check)
	@$(MAKE) --no-print-directory book PROFILE=smoke

# Every run the book reads, computed outside the notebooks, one `python -m sftrl job`
# each (under LAUNCHER when given): the notebooks of a later `make book` only read them.
runs: $(STAMP)  ## train every run the book reads: make runs PROFILE=gpu MODEL=<id> LAUNCHER="accelerate launch ..."
	@jobs="$$($(PY) -m sftrl plan $(run_args) $(if $(NPROC),--processes $(NPROC)))" || exit $$?; \
	n=$$(echo $$jobs | wc -w); i=0; \
	for job in $$jobs; do i=$$((i+1)); echo "runs: [$$i/$$n] $$job"; \
	  PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(LAUNCH) -m sftrl job $$job $(run_args) >/dev/null || exit $$?; done

figure:  ## rerun one notebook with overrides and rebuild: make figure NB=00_the_task ARGS="-p seed 7"
	@test -n "$(NB)" || { echo "error: say which notebook: make figure NB=<name> ARGS=\"-p key value\"; notebooks: $(NOTEBOOKS)" >&2; exit 2; }
	@$(if $(filter $(NB),$(NOTEBOOKS)),true,{ echo "error: unknown notebook '$(NB)'; the book's notebooks: $(NOTEBOOKS)" >&2; exit 2; })
	@$(MAKE) --no-print-directory -W notebooks/$(NB).py book

check-site: book browser  ## load every page of the built site in headless Chromium (links, images, reprs, layout); a screenshot per page
	$(PY) -m sftrl.book.site_check $(SITE) --screenshots $(SCREENSHOTS)

browser:  ## install headless Chromium and its driver (Debian packages) when missing
	@command -v chromium >/dev/null || { \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q chromium chromium-driver; }

base: $(STAMP)  ## rebuild the committed small base (data/base) from scratch: pretraining, ~25 min on 2 cores
	OMP_NUM_THREADS=2 $(PY) -m sftrl train base --profile cpu --set threads=2

study: $(STAMP)  ## rerun the small-model study (the default under 3 SFT seeds, its variants, sparsity against length, restoration against model size); writes book/study/*.json
	$(PY) -m sftrl.claims.study_log
	$(PY) -m sftrl.experiments.length_study
	$(PY) -m sftrl.experiments.size_study
	$(PY) -m sftrl.book.readme

readme: $(STAMP)  ## redraw the README's scoreboard and figure from the committed study log
	$(PY) -m sftrl.book.readme

bench: $(STAMP)  ## time the pipeline's stages and the book build on this machine
	OMP_NUM_THREADS=2 $(PY) bench/pipeline.py
	$(PY) bench/book.py

clean:  ## remove everything generated under _build (never data/)
	rm -rf _build

list-notebooks:  ## print the figure notebooks of the book, in toc order
	@echo $(NOTEBOOKS)

print-%:  # a variable's value, for scripts (bench/book.py): make -s print-OUT
	@echo $($*)

# The per-notebook parameters (profile and any ARGS) live in a stamp file rewritten only
# when they change: a plain `make book` after `make figure ... ARGS=...` sees the
# difference and re-executes that notebook with the defaults.
define NOTEBOOK_RULES
$(OUT)/params/$(1).args: export NB_PARAMS := --profile $(PROFILE) $(model_arg) $(call nb_args,$(1))
$(OUT)/params/$(1).args: FORCE
	@mkdir -p $$(@D); if [ "$$$$(cat $$@ 2>/dev/null)" != "$$$$NB_PARAMS" ]; then printf '%s\n' "$$$$NB_PARAMS" > $$@; fi

$(STAGE)/figures/$(1).ipynb: notebooks/$(1).py $(SRC_PY) $(RECORDS) $(OUT)/params/$(1).args $(STAMP)
	$(PY) -m sftrl.book run $(1) --out $$@ --profile $(PROFILE) $(model_arg) $(call nb_args,$(1))
endef
$(foreach nb,$(NOTEBOOKS),$(eval $(call NOTEBOOK_RULES,$(nb))))

$(STAGE)/%: book/%
	@mkdir -p $(@D) && cp $< $@

# a strict build (-W: any warning fails it) of every page (--all: a warning in a page
# that did not change is reported again, never hidden by Sphinx's incremental cache)
$(SITE_STAMP): $(STAGED) $(EXECUTED) _config.yml book/_toc.yml $(STAMP)
	@rm -f $@
	$(VENV)/bin/jupyter-book build $(STAGE) --path-output $(PATH_OUTPUT) --config $(CURDIR)/_config.yml --toc $(CURDIR)/book/_toc.yml \
	  --warningiserror --keep-going --all --quiet
	@touch $@

FORCE:
