"""Jobs shared among one-thread child processes (sftrl.experiments.pool)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sftrl import config
from sftrl.experiments import pool
from sftrl.training.runs import read_jsonl


def _jobs(kinds):
    cfg = config.profile("smoke")
    make = {"rl": lambda i: pool.rl(cfg, i), "sft": lambda i: pool.sft(cfg), "eval": lambda i: pool.evaluation(cfg, i)}
    return [make[k](i) for i, k in enumerate(kinds)]


def test_jobs_are_taken_costliest_first():
    jobs = _jobs(["eval"] * 3 + ["rl"] * 2 + ["sft"])
    assert [(j["kind"], j.get("step")) for j in pool.order(jobs)] == [
        ("rl", 3), ("rl", 4), ("sft", None), ("eval", 0), ("eval", 1), ("eval", 2)]  # ties keep their order


#: a stand-in child that speaks the pool's protocol: it sleeps each job's ``seconds`` and logs who did it
FAKE_CHILD = """
import json, os, sys
for line in sys.stdin:
    job = json.loads(line)
    if job.get("fail"):
        sys.exit("this job was refused")
    import time; time.sleep(job["seconds"])
    with open(job["log"], "a") as f: f.write(f"{os.getpid()} {job['step']}\\n")
    print("done", flush=True)
"""


def test_a_free_child_takes_the_next_job_so_a_long_run_does_not_hold_back_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(pool, "CHILD", (sys.executable, "-c", FAKE_CHILD))
    log = tmp_path / "done.txt"
    slow, fast = ({"kind": "rl", "step": i, "seconds": t, "log": str(log)} for i, t in ((0, 1.5), (1, 0.0)))
    evals = [{"kind": "eval", "step": i, "seconds": 0.05, "log": str(log)} for i in range(2, 6)]
    pool.run([*evals, fast, slow], 2)
    by_child: dict[str, list[int]] = {}
    for pid, step in (line.split() for line in log.read_text().splitlines()):
        by_child.setdefault(pid, []).append(int(step))
    assert sorted(by_child.values()) == [[0], [1, 2, 3, 4, 5]]  # dealt ahead, each child would have had 2 evals


def test_a_failing_job_is_raised_after_the_other_child_has_done_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(pool, "CHILD", (sys.executable, "-c", FAKE_CHILD))
    log = tmp_path / "done.txt"
    jobs = [{"kind": "rl", "step": 0, "fail": True}] + [{"kind": "eval", "step": i, "seconds": 0.05, "log": str(log)}
                                                         for i in range(1, 5)]
    with pytest.raises(RuntimeError, match=r"job \('rl', 0\) failed:\n.*this job was refused"):
        pool.run(jobs, 2)
    assert sorted(int(line.split()[1]) for line in log.read_text().splitlines()) == [1, 2, 3, 4]


def test_a_job_carries_its_configuration_with_one_thread():
    cfg = config.profile("smoke", rl_lr=3e-4, threads=2)
    job = pool.rl(cfg, 20, evaluate=True)
    again = config.profile(job["profile"], **job["flat"])
    assert again.threads == 1 and config.same_results(again, cfg)
    assert (job["kind"], job["step"], job["evaluate"]) == ("rl", 20, True)
    assert pool.sft(cfg, start="x/checkpoint-5")["start"] == "x/checkpoint-5" and pool.sft(cfg)["start"] is None


def test_default_workers_follow_the_threads_on_a_cpu():
    assert pool.workers(config.profile("smoke", threads=2, device="cpu")) == 2
    assert pool.workers(config.profile("smoke", threads=1, device="cpu")) == 1
    assert pool.workers(config.profile("smoke", threads=2, device="cpu"), 3) == 3


def test_a_failing_child_is_raised_with_its_error():
    bad = {**_jobs(["eval"])[0], "flat": {"sft_steps": "many"}}  # refused by the child's configuration
    with pytest.raises(RuntimeError, match="sft_steps"):
        pool.run([bad, bad], 2)


def test_a_log_shared_by_processes_keeps_every_line_whole(tmp_path):
    log = tmp_path / "evals.jsonl"
    code = ("import sys; from pathlib import Path; from sftrl.training.runs import append_jsonl\n"
            "for i in range(200): append_jsonl(Path(sys.argv[1]), {'w': sys.argv[2], 'i': i, 'pad': 'x' * 6000})")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(log), str(w)]) for w in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    rows = read_jsonl(log)  # stops at the first broken line
    assert len(rows) == 600
    assert {(r["w"], r["i"]) for r in rows} == {(str(w), i) for w in range(3) for i in range(200)}


@pytest.mark.slow
def test_two_children_train_sft_runs_from_a_given_start():
    from sftrl.training import train

    cfg = config.profile("smoke")
    start = train.sft(cfg).checkpoint(10)
    variants = [config.profile("smoke", sft_steps=3, sft_checkpoints="3", rl_from_steps="3", sft_seed=s)
                for s in (11, 12)]
    assert not any(train.sft_run(c, start=start).is_done for c in variants)
    pool.run([pool.sft(c, start=start) for c in variants], 2)
    runs = [train.sft_run(c, start=start) for c in variants]
    assert all(r.is_done for r in runs) and runs[0].id != runs[1].id
    assert all(r.config["parent"] == train.sft_run(variants[0], start=start).config["parent"] for r in runs)


def test_a_pretraining_job_is_the_costliest():
    cfg = config.profile("smoke")
    jobs = [pool.evaluation(cfg, 10), pool.rl(cfg, 10), pool.pretrain(cfg)]
    assert [j["kind"] for j in pool.order(jobs)] == ["pretrain", "rl", "eval"]
