"""The README's opening: the scoreboard and one figure, drawn from the committed study log.

The README cannot run code, so it quotes a committed record: the study log
(``book/study/tried.json``), whose rows carry what made them
(:func:`sftrl.provenance.record`). :func:`scoreboard_block` renders every claim the log's
seed rows judged, one line per claim with each SFT seed's verdict, linked to its figure
notebook, and names the commit and code digest of the rows; :func:`draw_rl_window` draws
Figure 1's question (OOD accuracy before and after RL, by SFT start step) from the same rows
into :data:`FIGURE`, stamped with a digest of the numbers it shows.

``make readme`` (also run by ``make study``) rewrites both; a test checks that the README's
block and the figure's stamp are what today's log renders, so the README never disagrees
with the log. The built site's scoreboard (``intro.md``) is the live one: it adds the
book's own run (SFT seed 0) and paper B's claims, which the log does not hold.

Usage: ``python -m sftrl.book.readme`` (``--check`` only compares, exit 1 when stale)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sftrl import paths
from sftrl.book.tables import marked
from sftrl.claims.registry import CLAIMS, GROUPS, PAPERS
from sftrl.claims.study_log import read_log

README = paths.ROOT / "README.md"
#: the figure the README shows, committed beside the book's static files
FIGURE = paths.BOOK / "_static" / "readme" / "rl_window.png"
#: the markers between which :func:`write` replaces the README's text
BEGIN, END = "<!-- scoreboard: made by `make readme` from book/study/tried.json -->", "<!-- /scoreboard -->"
#: the PNG text chunk holding the digest of the figure's numbers
STAMP_KEY = "sftrl-data"


def seed_rows(log: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The log's rows of the default configuration under an SFT seed (those that judged
    every claim of Figures 1-5), in seed order."""
    rows = [r for r in log if r.get("verdicts") and "sft_seed" in r]
    return sorted(rows, key=lambda r: r["sft_seed"])


def _made_by(rows: Sequence[Mapping[str, Any]]) -> str:
    made = sorted({(r["made_by"].get("commit", "")[:7], r["made_by"].get("code", "")) for r in rows
                   if r.get("made_by")})
    return "; ".join(f"commit {c}, code digest {d}" for c, d in made) or "no recorded code"


def scoreboard_block(log: Sequence[Mapping[str, Any]]) -> str:
    """The README's scoreboard: one line per claim the seed rows judged, each seed's verdict."""
    rows = seed_rows(log)
    if not rows:
        return "The study log holds no seed rows yet: run `make study`."
    seeds = [r["sft_seed"] for r in rows]
    head = "| Claim (paper A, arXiv 2509.12235) | " + " | ".join(f"SFT seed {s}" for s in seeds) + " |"
    lines = [head, "|---|" + "---|" * len(seeds)]
    for spec in CLAIMS:
        cells = [r["verdicts"].get(spec.key, {}).get("verdict") for r in rows]
        if not any(cells):
            continue
        figure, page = GROUPS[spec.group]
        claim = f"[{figure}](notebooks/{page}.py): {spec.statement}"
        lines.append(f"| {claim} | " + " | ".join(marked(c) if c else "—" for c in cells) + " |")
    profile = rows[0].get("profile", "cpu")
    tallies = []
    for r in rows:
        got = [v["verdict"] for v in r["verdicts"].values() if v.get("verdict")]
        parts = [f"{got.count(v)} {v}" for v in dict.fromkeys(got)]
        tallies.append(f"SFT seed {r['sft_seed']}: " + ", ".join(parts) + f" of {len(got)}")
    intro = (f"What the {profile} profile measured under the papers' protocol, per SFT seed, from the "
             f"committed study log ({_made_by(rows)}; every number is on the "
             "[Methods page](_build/html/figures/09_methods.html) after `make book`). "
             f"The site's own scoreboard adds SFT seed 0 and paper B (arXiv {PAPERS['B']}).")
    return intro + "\n\n" + "\n".join(lines) + "\n\n" + "; ".join(tallies) + "."


def window_data(log: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    """Figure 1's RL window per seed: start step, OOD % before RL and after RL (mean and the
    RL seeds' range)."""
    out: dict[str, list] = {}
    for r in seed_rows(log):
        points = sorted(r.get("rl", []), key=lambda p: p["from"])
        out[str(r["sft_seed"])] = [[p["from"], p["ood_start"], p["ood_rl"], min(p["ood_rl_seeds"]),
                                    max(p["ood_rl_seeds"])] for p in points]
    return out


def data_digest(data: Mapping[str, list]) -> str:
    """A digest of the numbers a figure shows (its stamp)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def draw_rl_window(log: Sequence[Mapping[str, Any]], path: Path = FIGURE) -> Path:
    """OOD accuracy at each SFT checkpoint RL started from, and after RL, one panel per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = window_data(log)
    fig, axes = plt.subplots(1, max(1, len(data)), figsize=(4.2 * max(1, len(data)), 3.2), sharey=True,
                             layout="constrained", squeeze=False)
    for ax, (seed, points) in zip(axes[0], data.items()):
        steps = [p[0] for p in points]
        ax.plot(steps, [p[1] for p in points], "o-", color="0.45", label="SFT checkpoint")
        ax.errorbar(steps, [p[2] for p in points], yerr=[[p[2] - p[3] for p in points], [p[4] - p[2] for p in points]],
                    fmt="s-", color="C3", capsize=3, label="after RL (RL seeds' range)")
        ax.set(xscale="log", xlabel="SFT steps before RL", title=f"SFT seed {seed}")
        ax.set_xticks(steps, [str(x) for x in steps])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("OOD accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle("Does RL restore OOD accuracy lost to SFT? (GeneralPoints, the book's small model)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={STAMP_KEY: data_digest(data), "Software": None})
    plt.close(fig)
    return path


def figure_stamp(path: Path = FIGURE) -> str | None:
    """The digest a figure was stamped with (None for a missing or unstamped file)."""
    if not path.is_file():
        return None
    from PIL import Image

    with Image.open(path) as im:
        return im.text.get(STAMP_KEY) if hasattr(im, "text") else None


def current_block(text: str) -> str | None:
    """The README's text between the markers (None when they are missing)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start + len(BEGIN):end].strip()


def figure_markdown() -> str:
    return f"![OOD accuracy before and after RL, by SFT start step]({FIGURE.relative_to(paths.ROOT).as_posix()})"


def render(log: Sequence[Mapping[str, Any]]) -> str:
    """What belongs between the markers: the scoreboard and the figure."""
    return scoreboard_block(log) + "\n\n" + figure_markdown()


def is_stale(log: Sequence[Mapping[str, Any]] | None = None, readme: Path = README, figure: Path = FIGURE) -> list[str]:
    """What of the README's opening disagrees with the log ([] when nothing does)."""
    log = read_log() if log is None else log
    problems = []
    if current_block(readme.read_text()) != render(log).strip():
        problems.append(f"{readme.name}: the scoreboard block is not what the study log renders")
    if figure_stamp(figure) != data_digest(window_data(log)):
        problems.append(f"{figure.name}: not drawn from today's study log")
    return problems


def write(log: Sequence[Mapping[str, Any]] | None = None, readme: Path = README, figure: Path = FIGURE) -> None:
    """Rewrite the README's block and redraw the figure from the log."""
    log = read_log() if log is None else log
    text = readme.read_text()
    if current_block(text) is None:
        raise SystemExit(f"{readme} lacks the markers {BEGIN!r} ... {END!r}")
    start, end = text.find(BEGIN) + len(BEGIN), text.find(END)
    readme.write_text(text[:start] + "\n" + render(log) + "\n" + text[end:])
    draw_rl_window(log, figure)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when the README is stale")
    args = ap.parse_args(argv)
    if args.check:
        problems = is_stale()
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    write()
    print(f"wrote {README.name} and {FIGURE.relative_to(paths.ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
