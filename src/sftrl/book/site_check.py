"""Check the built book as a reader's browser sees it, in headless Chromium.

Serves the site folder on 127.0.0.1 (a free port, a thread of this process), opens every
HTML page in headless Chromium and reports, per page:

- the page answers HTTP 200 and has a title (a ``<meta refresh>`` redirect page must point
  at a page that exists);
- every same-site resource the page loads (CSS, scripts, images, fonts) answers < 400;
- every ``<img>`` has a non-zero natural size once loaded;
- every internal link resolves: its target answers 200 and its ``#anchor`` exists there;
- no notebook output or pasted value shows a bare object repr, a warning, a traceback or
  stderr, and no output is a long raw log (:data:`LONG_LOG_LINES` lines or more);
- nothing is wider than the content column: no table, code block or output overflows it,
  nor scrolls sideways inside it, and the page itself does not scroll sideways (measured in
  the laid-out page, :data:`WINDOW`);
- no table shows ``NaN`` or ``nan``, and no table has an unlabeled index column (pandas'
  blank top-left header);
- every figure image in an output is shown at least :data:`MIN_FIGURE_WIDTH` pixels wide.

Every page is also saved as a full-page screenshot, for review.

Chromium is driven over ``--remote-debugging-pipe``: the DevTools protocol as
NUL-terminated JSON on file descriptors 3 and 4, so neither chromedriver nor a websocket
package is needed. Everything is bounded in time; nothing leaves the loopback interface.

Usage: ``python -m sftrl.book.site_check _build/html --screenshots _build/screenshots``
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from sftrl.errors import SftrlError

#: text in an output or a pasted value that a reader should never see (shared with sftrl.book.execute)
STRAY_OUTPUT = re.compile(
    r"<Figure size|<matplotlib\.|<Axes[: ]|<seaborn\.| object at 0x[0-9a-f]+>"
    r"|\b[A-Z][A-Za-z]*Warning: |Traceback \(most recent call last\)"
)
#: an output this long is a raw log, not a result
LONG_LOG_LINES = 50
#: the browser's window: a laptop screen, so screenshots look like what a reader sees
WINDOW = (1280, 900)
#: the narrowest a figure image in an output may be shown (CSS pixels): below it, a
#: reader cannot see the per-row and per-column structure a page asks them to look for
MIN_FIGURE_WIDTH = 480
#: the tallest screenshot kept (pixels); longer pages are cut there
MAX_SCREENSHOT_HEIGHT = 20000
#: Chromium's flags: headless, no sandbox (root in a container), nothing phoned home
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--hide-scrollbars",
    "--mute-audio",
)
#: folders of the site that hold assets, not pages
ASSET_DIRS = ("_static", "_sources", "_images", "_downloads", "_panels_static")

# Runs in the page once it has loaded; returns what the checks need as plain JSON.
_PAGE_PROBE = r"""
(async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(done => {
    i.addEventListener("load", done); i.addEventListener("error", done); setTimeout(done, 10000);
  })));
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));  // painted in the screenshot too
  // what a reader reads in outputs and pasted values (a table's <style> is not text)
  const text = el => {
    const c = el.cloneNode(true);
    c.querySelectorAll("style, script").forEach(s => s.remove());
    return c.textContent;
  };
  // the content column, and what is wider than it or scrolls sideways inside it
  const column = document.querySelector("article.bd-article") || document.querySelector("article")
    || document.querySelector("main") || document.body;
  const col = column.getBoundingClientRect();
  const label = el => {
    const t = (el.textContent || el.getAttribute("src") || "").replace(/\s+/g, " ").trim();
    return el.tagName.toLowerCase() + (t ? ": " + t.slice(0, 60) : "");
  };
  const wide = [], flagged = [];  // the outermost element of each defect, reported once
  for (const el of column.querySelectorAll("table, pre, img, .cell_output, .output, .pasted-text, .table-wrapper")) {
    const r = el.getBoundingClientRect();
    if (!r.width || flagged.some(f => f.contains(el))) continue;
    const before = wide.length;
    const sideways = el.scrollWidth - el.clientWidth;
    if (r.right > col.right + 1 || r.left < col.left - 1) {
      wide.push({what: label(el), width: Math.round(r.width), column: Math.round(col.width), how: "wider"});
    } else if (sideways > 1 && getComputedStyle(el).overflowX !== "visible") {
      wide.push({what: label(el), width: Math.round(el.scrollWidth), column: Math.round(el.clientWidth),
                 how: "scrolls"});
    }
    if (wide.length > before) flagged.push(el);
  }
  const tables = Array.from(column.querySelectorAll("table")).map(t => {
    const head = t.querySelector("thead tr, tr");
    const first = head ? head.querySelector("th, td") : null;
    const cells = Array.from(t.querySelectorAll("td, th")).map(c => c.textContent.trim());
    return {
      header: head ? Array.from(head.children).map(c => c.textContent.trim()).slice(0, 4) : [],
      nan: cells.filter(c => /(^|[^A-Za-z])nan([^A-Za-z]|$)/i.test(c)).slice(0, 3),
      blank_index: !!first && first.tagName === "TH" && first.textContent.trim() === ""
        && t.querySelectorAll("tbody tr").length > 0 && !!t.querySelector("tbody tr > th:first-child"),
    };
  });
  const figures = Array.from(column.querySelectorAll(".cell_output img, .output img")).map(i => ({
    src: i.currentSrc || i.src, shown: Math.round(i.getBoundingClientRect().width), natural: i.naturalWidth,
  }));
  // the page itself must not scroll sideways (a wide element can widen the column too)
  const page = {width: document.documentElement.scrollWidth, window: window.innerWidth,
                column: [Math.round(col.left), Math.round(col.right), column.scrollWidth - column.clientWidth],
                widest: Array.from(column.querySelectorAll("table, pre, img, div"))
                  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
                  .slice(-1).map(label)};
  return {
    wide, tables, figures, page,
    title: document.title.trim(),
    images: imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth, height: i.naturalHeight})),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    outputs: Array.from(document.querySelectorAll(".cell_output, .pasted-text, .pasted-inline")).map(text),
    logs: Array.from(document.querySelectorAll(".cell_output pre")).map(p => p.textContent),
    stderr: Array.from(document.querySelectorAll(".cell_output .stderr, .output.stderr"))
      .map(o => o.textContent.slice(0, 200)),
  };
})()
"""


class SiteCheckError(RuntimeError):
    """Chromium could not be started or driven (not a finding about the site)."""


# --------------------------------------------------------------------------- serving


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass  # one line per request would drown the report


class SiteServer:
    """The site folder on http://127.0.0.1:<free port>/, served by a thread of this process."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="site-server", daemon=True)

    def __enter__(self) -> SiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Ids(HTMLParser):
    """Anchors of an HTML page: every id, and the name of every <a>."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])  # type: ignore[arg-type]
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])  # type: ignore[arg-type]
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            match = re.search(r"url\s*=\s*['\"]?([^'\";]+)", a.get("content") or "", re.IGNORECASE)
            self.refresh = match.group(1).strip() if match else None


@dataclass
class _Fetched:
    status: int
    html: _Ids | None


class Fetcher:
    """HTTP GETs against the local server (no proxy), cached by URL."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.cache: dict[str, _Fetched] = {}

    def get(self, url: str) -> _Fetched:
        if url not in self.cache:
            try:
                with self.opener.open(url, timeout=10) as resp:
                    body = resp.read()
                    status = resp.status
                    kind = resp.headers.get_content_type()
            except urllib.error.HTTPError as exc:
                self.cache[url] = _Fetched(exc.code, None)
                return self.cache[url]
            parsed = None
            if kind == "text/html":
                parsed = _Ids()
                parsed.feed(body.decode("utf-8", "replace"))
            self.cache[url] = _Fetched(status, parsed)
        return self.cache[url]


# --------------------------------------------------------------------------- the browser


def find_chromium() -> str | None:
    """The Chromium binary on PATH (Debian's package installs ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def _high_fd(fd: int) -> int:
    """Move ``fd`` to a number >= 10, clear of the 3 and 4 the browser's pipe needs."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, binary: str, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="sftrl-chromium-")  # a new, empty profile
        self.log = tempfile.TemporaryFile()
        to_browser_r, to_browser_w = (_high_fd(fd) for fd in os.pipe())
        from_browser_r, from_browser_w = (_high_fd(fd) for fd in os.pipe())
        # bash puts our pipe ends on the browser's fds 3 (commands in) and 4 (replies out)
        script = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        argv = [binary, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", script, "chromium", *argv],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.wfd, self.rfd = to_browser_w, from_browser_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []
        try:
            self.call("Browser.getVersion")
        except SiteCheckError as exc:
            self.close()
            raise SiteCheckError(f"{exc}; Chromium said: {self.log_tail()}") from None

    # -- protocol
    def log_tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "(nothing)"

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SiteCheckError("Chromium did not answer in time")
            ready, _, _ = select.select([self.rfd], [], [], left)
            if ready:
                chunk = os.read(self.rfd, 1 << 20)
                if not chunk:
                    raise SiteCheckError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        self.next_id += 1
        message: dict = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.wfd, data):]
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise SiteCheckError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, *, session: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def drain(self) -> None:
        """Collect the events already sent, without waiting for more."""
        while True:
            ready, _, _ = select.select([self.rfd], [], [], 0)
            if not ready and b"\0" not in self.buffer:
                return
            message = self._read(time.monotonic() + self.timeout)
            if "method" in message:
                self.events.append(message)

    # -- pages
    def new_tab(self) -> str:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Network.enable"):
            self.call(method, session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        return session

    def open(self, session: str, url: str) -> tuple[dict, list[dict]]:
        """Load ``url``; return the page probe's result and the page's network events."""
        self.drain()
        self.events.clear()
        result = self.call("Page.navigate", {"url": url}, session=session)
        if result.get("errorText"):
            raise SiteCheckError(f"{url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired", session=session)
        probe = self.call("Runtime.evaluate",
                          {"expression": _PAGE_PROBE, "awaitPromise": True, "returnByValue": True},
                          session=session)
        if "exceptionDetails" in probe:
            raise SiteCheckError(f"{url}: page probe failed: {probe['exceptionDetails'].get('text')}")
        self.drain()
        network = [e for e in self.events if e.get("sessionId") == session and e["method"].startswith("Network.")]
        return probe["result"]["value"], network

    def screenshot(self, session: str, path: Path) -> None:
        size = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        height = min(int(size["height"]) + 1, MAX_SCREENSHOT_HEIGHT)
        shot = self.call("Page.captureScreenshot",
                         {"format": "png", "captureBeyondViewport": True,
                          "clip": {"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": 1}},
                         session=session, timeout=60)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call("Browser.close", timeout=5)
        except (SiteCheckError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- the checks


@dataclass
class PageReport:
    """What one page showed the browser."""

    path: str
    """The page, relative to the site root."""
    title: str = ""
    images: int = 0
    links: int = 0
    problems: list[str] = field(default_factory=list)
    screenshot: str | None = None


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the site (relative paths, sorted), assets excluded."""
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if p.relative_to(site).parts[0] not in ASSET_DIRS
    )


def _check_link(url: str, base: str, fetcher: Fetcher) -> str | None:
    """None when the internal link resolves (file 200, anchor present), else the reason."""
    target, _, fragment = url.partition("#")
    fetched = fetcher.get(target)
    shown = url.removeprefix(base)
    if fetched.status != 200:
        return f"broken link {shown!r} (HTTP {fetched.status})"
    anchor = urllib.parse.unquote(fragment)
    if anchor and fetched.html is not None and anchor not in fetched.html.ids:
        return f"broken link {shown!r}: no anchor #{anchor} on that page"
    return None


def check_page(browser: Browser, session: str, server: SiteServer, fetcher: Fetcher, rel: str,
               screenshots: Path | None) -> PageReport:
    """Open one page and run every check on it."""
    report = PageReport(rel)
    url = server.base + urllib.parse.quote(rel)
    fetched = fetcher.get(url)
    if fetched.status != 200:
        report.problems.append(f"page answers HTTP {fetched.status}")
        return report
    if fetched.html is not None and fetched.html.refresh:  # jupyter-book's index.html redirect
        report.title = f"(redirect to {fetched.html.refresh})"
        if reason := _check_link(urllib.parse.urljoin(url, fetched.html.refresh), server.base, fetcher):
            report.problems.append(f"redirect: {reason}")
        return report
    try:
        page, network = browser.open(session, url)
    except SiteCheckError as exc:
        report.problems.append(str(exc))
        return report
    report.title = page["title"]
    if not report.title:
        report.problems.append("page has no title")
    # request id -> URL, so a failure can be told apart: same-site (a broken site) or
    # off-site (e.g. MathJax's CDN, unreachable from an offline build machine; readers
    # online load it, and the check cannot judge it here)
    urls = {e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in network if e["method"] == "Network.requestWillBeSent"}
    for event in network:  # every same-site resource the page requested
        params = event["params"]
        if event["method"] == "Network.responseReceived":
            res = params["response"]
            rel_url = res["url"].removeprefix(server.base)
            if res["url"].startswith(server.base) and res["status"] >= 400 and rel_url != "favicon.ico":
                report.problems.append(f"resource {rel_url!r} answers HTTP {res['status']}")
        elif event["method"] == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params.get("requestId"), "")
            if url.startswith(server.base) or not url:
                report.problems.append(f"resource {url.removeprefix(server.base)!r} failed to load: "
                                       f"{params.get('errorText')}")
    report.images = len(page["images"])
    for img in page["images"]:
        if not img["width"] or not img["height"]:
            report.problems.append(f"image {img['src'].removeprefix(server.base)!r} has no natural size (not loaded)")
    internal = sorted({link for link in page["links"] if link.startswith(server.base)})
    report.links = len(internal)
    for link in internal:
        if reason := _check_link(link, server.base, fetcher):
            report.problems.append(reason)
    for text in page["outputs"]:
        if match := STRAY_OUTPUT.search(text):
            report.problems.append(f"output shows {match.group(0)!r}: {text.strip()[:120]!r}")
    for text in page["logs"]:
        if text.count("\n") >= LONG_LOG_LINES:
            report.problems.append(f"an output is a long raw log ({text.count(chr(10))} lines): {text.strip()[:80]!r}")
    for text in page["stderr"]:
        report.problems.append(f"stderr shown on the page: {text.strip()[:120]!r}")
    # the page or the column as a whole, when no element in it was found too wide
    left, right, inner = page["page"]["column"]
    if not page["wide"] and page["page"]["width"] > page["page"]["window"] + 1:
        report.problems.append(f"the page scrolls sideways ({page['page']['width']} px > the window's "
                               f"{page['page']['window']} px): {page['page']['widest']}")
    elif not page["wide"] and (left < 0 or right > page["page"]["window"] + 1 or inner > 1):
        report.problems.append(f"the content column does not fit the window (from {left} px to {right} px, "
                               f"{inner} px wider inside; the window is {page['page']['window']} px)")
    for el in page["wide"]:
        verb = "is wider than" if el["how"] == "wider" else "scrolls sideways in"
        report.problems.append(f"{el['what']!r} {verb} the content column ({el['width']} px > {el['column']} px)")
    for table in page["tables"]:
        if table["nan"]:
            report.problems.append(f"table {table['header']} shows NaN: {table['nan']}")
        if table["blank_index"]:
            report.problems.append(f"table {table['header']} has an unlabeled index column")
    for img in page["figures"]:
        if img["natural"] and img["shown"] < MIN_FIGURE_WIDTH:
            report.problems.append(f"figure {img['src'].removeprefix(server.base)!r} is shown {img['shown']} px "
                                   f"wide (at least {MIN_FIGURE_WIDTH} px)")
    if screenshots is not None:
        shot = screenshots / (rel.removesuffix(".html") + ".png")
        try:
            browser.screenshot(session, shot)
            report.screenshot = str(shot)
        except SiteCheckError as exc:
            report.problems.append(f"screenshot failed: {exc}")
    return report


def check_site(site: Path, *, screenshots: Path | None = None, timeout: float = 300.0,
               chromium: str | None = None) -> list[PageReport]:
    """Serve ``site`` and check every page in headless Chromium; one report per page.

    SftrlError for a missing site or browser (before starting anything);
    :class:`SiteCheckError` if Chromium misbehaves or the whole check exceeds ``timeout``.
    """
    site = Path(site)
    if not (site / "index.html").is_file() and not any(site.glob("*.html")):
        raise SftrlError(f"no built site at {str(site)!r}: run `make book` first")
    binary = chromium or find_chromium()
    if binary is None:
        raise SftrlError(
            "Chromium is not installed: `make browser` installs it (Debian packages chromium, chromium-driver)"
        )
    pages = site_pages(site)
    deadline = time.monotonic() + timeout
    reports = []
    with SiteServer(site) as server, Browser(binary) as browser:
        fetcher = Fetcher()
        session = browser.new_tab()
        for rel in pages:
            if time.monotonic() > deadline:
                raise SiteCheckError(f"site check exceeded {timeout:.0f} s after {len(reports)} of {len(pages)} pages")
            reports.append(check_page(browser, session, server, fetcher, rel, screenshots))
    return reports


def format_report(reports: list[PageReport]) -> str:
    """A table of pages (title, images, internal links, problems), problems listed below."""
    width = max([len(r.path) for r in reports] + [4])
    lines = [f"{'page':<{width}}  {'images':>6}  {'links':>5}  {'problems':>8}  title"]
    for r in reports:
        lines.append(f"{r.path:<{width}}  {r.images:>6}  {r.links:>5}  {len(r.problems):>8}  {r.title[:50]}")
    for r in reports:
        lines += [f"{r.path}: {problem}" for problem in r.problems]
    bad = sum(1 for r in reports if r.problems)
    shots = sum(1 for r in reports if r.screenshot)
    lines.append(f"{len(reports)} pages checked, {bad} with problems, {shots} screenshots")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sftrl.book.site_check", description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built html folder, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="folder for the pages' screenshots (default: SITE/../screenshots)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole check (default 300)")
    args = parser.parse_args(argv)
    screenshots = args.screenshots or args.site.resolve().parent / "screenshots"
    try:
        reports = check_site(args.site, screenshots=screenshots, timeout=args.timeout)
    except SftrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SiteCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_report(reports))
    return 1 if any(r.problems for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
