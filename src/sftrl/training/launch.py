"""Several processes, one run: which process writes, and how the others wait for it.

A stage may run under a launcher that starts one process per device (``accelerate launch``,
``torchrun``, DeepSpeed's launcher): every process trains the same run together through trl's
trainers, which distribute with accelerate (DDP by default; DeepSpeed ZeRO or FSDP when the
launcher's config file says so). The run's folder stays correct because only the *main*
process (rank 0) writes to it -- its configuration, its completion marker, its metrics -- and
the others wait at a barrier where it must be finished before they read.

The launcher says how many processes there are through ``WORLD_SIZE`` and which one this is
through ``RANK`` (both set by accelerate, torchrun and DeepSpeed). Without a launcher both are
absent: one process, which is the main one.

The run's settings describe the whole step, not one process: a batch of ``sft_batch_size``
sequences is split evenly over the processes, so a launch gives the same run as one process.
:func:`check_divides` refuses a process count that does not divide a batch, before any work.

Usage::

    from sftrl.training import launch
    if launch.is_main(): run.prepare()
    launch.barrier()
    per_device = launch.per_process("sft_batch_size", cfg.sft.batch_size)
"""

from __future__ import annotations

import os

from sftrl.errors import SftrlError


def world_size() -> int:
    """How many processes train this run together (``WORLD_SIZE``; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    """This process's place among them (``RANK``; 0 without a launcher)."""
    return int(os.environ.get("RANK", "0") or 0)


def is_main() -> bool:
    """Whether this process writes the run's files (rank 0)."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process of the launch gets here (nothing to wait for alone).

    The trainers' arguments set up the processes' group (accelerate's ``PartialState``);
    a barrier before that sets it up the same way, from the launcher's environment.
    """
    if world_size() <= 1:
        return
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def check_divides(name: str, batch: int, processes: int | None = None) -> None:
    """SftrlError naming the setting ``name`` unless ``processes`` (default: this launch's)
    divide its ``batch`` evenly, so every process gets the same share of each step."""
    n = world_size() if processes is None else processes
    if n < 1:
        raise SftrlError(f"the launch must have at least one process, got {n}")
    if batch % n:
        raise SftrlError(f"{name}={batch} cannot be split over {n} processes: choose a process count that "
                         f"divides it (the launcher's --num_processes), or a batch that {n} divides")


def per_process(name: str, batch: int) -> int:
    """``batch`` (the setting ``name``, for the whole step) shared out over the launch's
    processes; SftrlError when they do not divide it (:func:`check_divides`)."""
    check_divides(name, batch)
    return batch // world_size()
