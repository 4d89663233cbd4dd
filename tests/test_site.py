"""The browser check of the site (sftrl.book.site_check): it must catch each kind of defect on a
small hand-made site, and pass the smoke build of the real book."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from sftrl.book import execute as book
from sftrl.book import site_check


pytestmark = pytest.mark.skipif(
    site_check.find_chromium() is None,
    reason="Chromium is not installed and `make browser` could not install it "
    "(Debian packages chromium, chromium-driver; needs root or sudo)",
)


def _png(width: int, height: int) -> bytes:
    """A valid RGB PNG of the given size (red), built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _page(title: str, body: str) -> str:
    head = f"<title>{title}</title>" if title else ""
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


#: one of each layout defect a reader would see: a table wider than the column, a NaN in a
#: table, pandas' unlabeled index column, a figure shown too small to read
PLANTED = """
    <div class="cell_output"><table><thead><tr><th>wide</th></tr></thead><tbody><tr>
      <td style="white-space: nowrap">""" + "a table far wider than any page " * 40 + """</td></tr></tbody></table></div>
    <div class="cell_output"><table><thead><tr><th>value</th></tr></thead><tbody><tr><td>NaN</td></tr></tbody></table></div>
    <div class="cell_output"><table><thead><tr><th></th><th>x</th></tr></thead>
      <tbody><tr><th>0</th><td>1</td></tr></tbody></table></div>
    <div class="cell_output"><img src="../_images/good.png" alt="tiny figure" style="width: 120px"></div>"""
#: the report lines the planted defects must give (each once)
PLANTED_PROBLEMS = (
    r"'(table|div): wide a table far wider than any page[^']*' (is wider than|scrolls sideways in) the content "
    r"column \(\d+ px > \d+ px\)",
    r"table \['value'\] shows NaN: \['NaN'\]",
    r"table \['', 'x'\] has an unlabeled index column",
    r"figure '_images/good.png' is shown 120 px wide \(at least 480 px\)",
)


def _planted(problems: list[str]) -> list[str]:
    """The planted defects' report lines among ``problems``, in :data:`PLANTED_PROBLEMS`' order."""
    import re

    return [p for pattern in PLANTED_PROBLEMS for p in problems if re.fullmatch(pattern, p)]


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    site = tmp_path / "html"
    (site / "figures").mkdir(parents=True)
    (site / "_images").mkdir()
    (site / "_images" / "good.png").write_bytes(_png(4, 3))
    (site / "_images" / "corrupt.png").write_bytes(b"not a png")
    redirect = '<meta http-equiv="Refresh" content="0; url=intro.html" />'  # as jupyter-book writes it
    (site / "index.html").write_text(f"<html><head>{redirect}</head></html>")
    (site / "intro.html").write_text(_page("Intro", """
        <h1 id="top">Intro</h1>
        <a href="figures/fig.html">ok</a> <a href="figures/fig.html#panel-a">ok anchor</a>
        <a href="#top">self</a> <a href="#">toggle</a> <a href="https://example.org/">external, not followed</a>
        <a href="missing.html">missing page</a> <a href="figures/fig.html#no-such-panel">missing anchor</a>
        <div class="pasted-text">1,820</div>"""))
    (site / "figures" / "fig.html").write_text(_page("Figure", """
        <link rel="stylesheet" href="../_static/missing.css">
        <h2 id="panel-a">Panel a</h2>
        <img src="../_images/good.png" alt="good"> <img src="../_images/corrupt.png" alt="corrupt">
        <img src="../_images/absent.png" alt="absent">
        <div class="cell_output"><pre>&lt;Figure size 640x480 with 1 Axes&gt;</pre></div>
        <div class="cell_output"><div class="output stderr"><pre>UserWarning: careful</pre></div></div>
        <div class="cell_output"><pre>""" + "step\n" * 80 + """</pre></div>
        <a href="../intro.html#top">back</a>""" + PLANTED))
    (site / "untitled.html").write_text(_page("", "<p>no title</p>"))
    (site / "_static").mkdir()
    (site / "_static" / "skipped.html").write_text(_page("", "assets are not pages"))
    return site


def test_each_kind_of_defect_is_reported_on_its_page(broken_site: Path, tmp_path: Path):
    shots = tmp_path / "screenshots"
    reports = {r.path: r for r in site_check.check_site(broken_site, screenshots=shots, timeout=120)}
    assert sorted(reports) == ["figures/fig.html", "index.html", "intro.html", "untitled.html"]

    assert reports["index.html"].problems == []  # a redirect to a page that exists
    intro = reports["intro.html"]
    assert intro.title == "Intro"
    assert sorted(intro.problems) == [
        "broken link 'figures/fig.html#no-such-panel': no anchor #no-such-panel on that page",
        "broken link 'missing.html' (HTTP 404)",
    ]
    fig = "\n".join(reports["figures/fig.html"].problems)
    assert "resource '_static/missing.css' answers HTTP 404" in fig
    assert "image '_images/corrupt.png' has no natural size" in fig
    assert "image '_images/absent.png' has no natural size" in fig
    assert "good.png' has no natural size" not in fig  # a real image loads
    assert len(_planted(reports["figures/fig.html"].problems)) == len(PLANTED_PROBLEMS)  # each defect, once
    assert "output shows '<Figure size'" in fig
    assert "stderr shown on the page: 'UserWarning: careful'" in fig
    assert "long raw log (80 lines)" in fig
    assert "broken link" not in fig  # ../intro.html#top resolves
    assert reports["figures/fig.html"].images == 4
    assert reports["untitled.html"].problems == ["page has no title"]

    # every page a browser opened is photographed, as real PNGs of the page's width
    shot = shots / "figures" / "fig.png"
    assert sorted(p.relative_to(shots).as_posix() for p in shots.rglob("*.png")) == [
        "figures/fig.png", "intro.png", "untitled.png"]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", header[16:20])[0] == site_check.WINDOW[0]


def test_command_line_exit_codes(broken_site: Path, tmp_path: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    missing = subprocess.run([sys.executable, "-m", "sftrl.book.site_check", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 2 and "no built site" in missing.stderr and "make book" in missing.stderr
    bad = subprocess.run([sys.executable, "-m", "sftrl.book.site_check", str(broken_site)],
                         capture_output=True, text=True, env=env, timeout=180)
    assert bad.returncode == 1
    assert "4 pages checked, 3 with problems, 3 screenshots" in bad.stdout
    assert (broken_site.parent / "screenshots" / "figures" / "fig.png").is_file()  # SITE/../screenshots


@pytest.mark.slow
def test_the_smoke_book_passes_the_browser_check(smoke_book, tmp_path: Path):
    shots = tmp_path / "screenshots"
    reports = site_check.check_site(smoke_book.site, screenshots=shots, timeout=300)
    problems = [f"{r.path}: {p}" for r in reports for p in r.problems]
    assert problems == []
    pages = {r.path for r in reports}
    assert {"intro.html", "bibliography.html"} <= pages
    for name in book.toc_notebooks():
        assert f"figures/{name}.html" in pages
        assert (shots / "figures" / f"{name}.png").stat().st_size > 10_000
    task = next(r for r in reports if r.path == "figures/00_the_task.html")
    assert task.images == 2 and task.links > 0  # both figures rendered, and the page links out


@pytest.mark.slow
def test_a_defect_planted_in_a_smoke_page_fails_the_check(smoke_book, tmp_path: Path):
    import shutil

    site = tmp_path / "html"
    shutil.copytree(smoke_book.site, site)
    page = site / "figures" / "00_the_task.html"
    text = page.read_text()
    assert text.count("</article>") == 1  # the content column the check measures
    page.write_text(text.replace("</article>", PLANTED.replace("../_images/good.png", "../_images/planted.png")
                                 + "</article>"))
    (site / "_images" / "planted.png").write_bytes(_png(640, 480))
    reports = {r.path: r for r in site_check.check_site(site, timeout=300)}
    found = [p.replace("planted.png", "good.png") for p in reports["figures/00_the_task.html"].problems]
    assert len(_planted(found)) == len(PLANTED_PROBLEMS) == len(found)  # each defect once, nothing else
    assert [r.path for r in reports.values() if r.problems] == ["figures/00_the_task.html"]
