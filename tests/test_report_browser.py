"""The HTML reports in a real headless Chromium: the page renders, the tables have the expected rows,
the chart is drawn, and no request leaves the page.

Chromium is driven over the DevTools protocol through ``--remote-debugging-pipe`` (fds 3 and 4,
NUL-separated JSON), so no websocket library is needed. Every network request the page makes is
logged (``Network.requestWillBeSent``); a report may request nothing but its own file:// URL.
Two controls prove the detector and the page's Content-Security-Policy work: the same page with
an injected ``<img>`` pointing at a loopback server is seen requesting it (CSP removed), or is
blocked by the CSP (the server never hears from it, and Chromium logs the violation).

Install: ``apt-get install -y chromium chromium-driver`` (Debian). Without Chromium the browser
tests skip, except under CI=true where that is a failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ptmhub import report
from ptmhub.comparison import ROWS, compare, same_as
from ptmhub.platforms import FACETS, FACTS, matrix
from ptmhub.records import ModelRecord

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
         "--no-default-browser-check", "--window-size=1280,1024")


class Chromium:
    """A headless Chromium and a minimal DevTools-protocol client over its debugging pipe."""

    def __init__(self, binary: str, user_data_dir: Path, timeout: float = 30.0):
        cmd_r, cmd_w = os.pipe()    # we write commands; Chromium reads them on fd 3
        res_r, res_w = os.pipe()    # Chromium writes answers on fd 4; we read them
        # move the child's ends above the low fds so the dup2 to 3/4 cannot clobber one of them
        hi_r, hi_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
        os.close(cmd_r)
        os.close(res_w)
        tramp = ("import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
                 "os.close(r); os.close(w); os.execvp(sys.argv[3], sys.argv[3:])")
        args = [binary, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen([sys.executable, "-c", tramp, str(hi_r), str(hi_w), *args],
                                     pass_fds=(hi_r, hi_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        os.close(hi_r)
        os.close(hi_w)
        self._w, self._r = cmd_w, res_r
        self._buf = b""
        self._id = 0
        self.timeout = timeout
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_event(self, name: str, session: str) -> dict:
        deadline = time.monotonic() + self.timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == name and event.get("sessionId") == session:
                    return event
            seen = len(self.events)
            self.events.append(self._read(deadline))

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError("Chromium closed its debugging pipe: " + self._stderr_tail())
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _stderr_tail(self) -> str:
        try:
            self.proc.wait(5)
            return self.proc.stderr.read().decode(errors="replace")[-2000:]
        except subprocess.TimeoutExpired:
            return "(still running)"

    def open(self, path: Path) -> Page:
        """Load ``path`` in a fresh tab with network, console and log events recorded."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network.enable", "Page.enable", "Runtime.enable", "Log.enable"):
            self.send(domain, session=session)
        start = len(self.events)
        self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        self.wait_event("Page.loadEventFired", session)
        page = Page(self, target, session, start)
        page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(() => r(1), 150)))")  # settle
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(10)
        except Exception:  # noqa: BLE001 - teardown must not mask the test's own failure
            self.proc.kill()
            self.proc.wait(10)
        finally:
            os.close(self._w)
            os.close(self._r)
            self.proc.stderr.close()


class Page:
    def __init__(self, browser: Chromium, target: str, session: str, start: int):
        self.browser, self.target, self.session, self.start = browser, target, session, start

    def _events(self, *names: str) -> list[dict]:
        return [e for e in self.browser.events[self.start:]
                if e.get("sessionId") == self.session and e.get("method") in names]

    def evaluate(self, expression: str):
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": True}, session=self.session)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    @property
    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    @property
    def problems(self) -> list[str]:
        """Console messages, uncaught exceptions and log entries at warning level or worse."""
        out = []
        for e in self._events("Log.entryAdded", "Runtime.consoleAPICalled", "Runtime.exceptionThrown"):
            p = e["params"]
            if e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("warning", "error"):
                out.append(p["entry"]["text"])
            elif e["method"] == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value")) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(p)[:300])
        return out

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


def _find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = _find_browser()
    if binary is None:
        reason = ("headless Chromium is not installed (Debian: apt-get install -y chromium chromium-driver); "
                  "the HTML reports cannot be checked in a browser")
        if IN_CI:
            pytest.fail(reason + ": CI must install it")
        pytest.skip(reason)
    b = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    try:
        b.send("Browser.getVersion")
    except Exception as exc:  # noqa: BLE001
        b.close()
        pytest.fail(f"{binary} did not start: {exc}")
    yield b
    b.close()


@pytest.fixture
def loopback():
    """A loopback HTTP server that records every request (the far end of a leak)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


# -- data ---------------------------------------------------------------------------------------------

RECORDS = [
    ModelRecord(id="hf:google-bert/bert-base-uncased", platform="huggingface", name="bert-base-uncased",
                task="fill-mask", parameters=110_106_428, parameters_source="api", license="apache-2.0",
                license_source="huggingface: model card metadata (cardData.license)", library="transformers",
                framework="pytorch", downloads=72_376_843, likes=2065,
                source_url="https://huggingface.co/google-bert/bert-base-uncased", aliases=("hf:bert-base-uncased",)),
    ModelRecord(id="hf:distilbert/distilbert-base-uncased", platform="huggingface", name="distilbert-base-uncased",
                task="fill-mask", parameters=66_985_530, parameters_source="api", license="apache-2.0",
                library="transformers", downloads=11_000_000, likes=700),
    ModelRecord(id="tfhub:tensorflow/bert_en_uncased_L-12_H-768_A-12/4", platform="tfhub",
                name="bert_en_uncased_L-12_H-768_A-12", task="feature-extraction", library="tensorflow-hub",
                format="saved_model_2", fine_tunable=True, version="4",
                source_url="https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4"),
    ModelRecord(id="torchhub:pytorch/vision/resnet50", platform="torchhub", name="resnet50",
                task="image-classification", parameters=25_557_032, parameters_source="catalog",
                license="bsd-3-clause", library="torchvision"),
    ModelRecord(id="hf:timm/resnet50.a1_in1k", platform="huggingface", name="resnet50.a1_in1k", owner="timm",
                task="image-classification", license="apache-2.0", library="timm"),
]


def _hostile(base: str) -> ModelRecord:
    """A record whose hub-supplied strings try to inject markup and fetch from the loopback server."""
    return ModelRecord(id="hf:evil/bert-base-uncased", platform="huggingface", name="bert-base-uncased",
                       task=f'"><img src="{base}/task.gif">', license="other",
                       license_raw=f"<script>fetch('{base}/script')</script>", license_source=f"<b>{base}/b</b>",
                       library="transformers", parameters=110_000_000, parameters_source="api", downloads=3,
                       source_url=f"javascript:fetch('{base}/js')")


@pytest.fixture
def reg(sqlite_store):
    sqlite_store.upsert(RECORDS)
    return sqlite_store


def _comparison_page(reg, tmp_path) -> tuple[Path, object]:
    c = compare([r.id for r in RECORDS[:4]], store=reg)
    path = report.write_html(tmp_path / "compare.html", report.comparison_html(c, database="sqlite:///test"))
    return path, c


# -- static checks (no browser) ------------------------------------------------------------------------

class _Resources(HTMLParser):
    """Every attribute or element that would make a browser fetch something."""

    FETCHING = {"src", "srcset", "data", "poster", "background", "action", "formaction", "manifest"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.tags: set[str] = set()
        self.csp: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name in self.FETCHING or (name == "href" and tag != "a") or (name == "xlink:href"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name == "style" and value and "url(" in value:
                self.found.append(f"<{tag} style={value!r}>")
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = attrs.get("content")

    def handle_data(self, data):
        if "@import" in data or re.search(r"url\(", data):
            self.found.append(data[:80])


def _static_check(text: str) -> _Resources:
    parser = _Resources()
    parser.feed(text)
    assert parser.found == [], parser.found
    assert not parser.tags & {"script", "iframe", "object", "embed", "link", "img", "video", "audio", "base"}
    assert parser.csp == report.CSP and "default-src 'none'" in parser.csp
    return parser


def test_reports_reference_no_resources(reg, tmp_path):
    path, _ = _comparison_page(reg, tmp_path)
    _static_check(path.read_text())
    s = same_as("hf:bert-base-uncased", store=reg)
    _static_check(report.comparison_html(s.comparison, same_as=s))
    _static_check(report.platforms_html(matrix(store=reg)))


def test_hostile_values_are_escaped(reg, tmp_path):
    reg.upsert([_hostile("http://127.0.0.1:9")])
    c = compare(["hf:evil/bert-base-uncased", "hf:bert-base-uncased"], store=reg)
    text = report.comparison_html(c)
    _static_check(text)
    assert "&lt;script&gt;" in text and "<script" not in text
    assert "javascript:" not in text  # not a link: only http(s) source URLs become links


# -- in the browser -------------------------------------------------------------------------------------

def _assert_offline(page: Page, path: Path) -> None:
    assert page.requests == [path.resolve().as_uri()], page.requests
    assert page.problems == [], page.problems


@pytest.mark.browser
def test_comparison_report_renders(browser, reg, tmp_path):
    path, c = _comparison_page(reg, tmp_path)
    page = browser.open(path)
    try:
        _assert_offline(page, path)
        info = page.evaluate("""(() => {
            const t = document.querySelector('#comparison-table');
            const rows = [...t.querySelectorAll('tbody tr')];
            const chart = document.querySelector('#chart').getBoundingClientRect();
            return {
              title: document.title,
              heads: [...t.querySelectorAll('thead th')].map(th => th.textContent),
              fields: rows.map(r => r.dataset.field),
              differing: rows.filter(r => r.classList.contains('differs')).map(r => r.dataset.field),
              differBg: getComputedStyle(t.querySelector('tr.differs td')).backgroundColor,
              params: rows.find(r => r.dataset.field === 'parameters').querySelectorAll('td .v')[0].textContent,
              source: rows.find(r => r.dataset.field === 'parameters').querySelectorAll('td .src')[0].textContent,
              tableHeight: t.getBoundingClientRect().height,
              chart: [chart.width, chart.height],
              points: [...document.querySelectorAll('#chart g.point')].map(g => g.dataset.id),
              notPlotted: (document.querySelector('#not-plotted') || {}).textContent || '',
            };
        })()""")
    finally:
        page.close()
    assert info["title"].startswith("Comparison: hf:google-bert/bert-base-uncased")
    assert info["heads"] == ["Field", *c.ids]
    assert info["fields"] == [name for name, _, _ in ROWS]
    assert info["differing"] == [r.field for r in c.differing] and "parameters" in info["differing"]
    assert info["differBg"] == "rgb(255, 241, 194)"  # the highlight is applied
    assert info["params"] == "110M (110,106,428)" and info["source"].startswith("api")
    assert info["tableHeight"] > 300 and info["chart"] == [720, 420]
    # plotted: the two with a parameter count and downloads; the others are named as not plotted
    assert info["points"] == ["hf:google-bert/bert-base-uncased", "hf:distilbert/distilbert-base-uncased"]
    assert "tfhub:tensorflow/bert_en_uncased_L-12_H-768_A-12/4 (no parameter count or downloads)" in info["notPlotted"]
    assert "torchhub:pytorch/vision/resnet50 (no downloads)" in info["notPlotted"]


@pytest.mark.browser
def test_same_as_report_renders(browser, reg, tmp_path):
    s = same_as("torchhub:pytorch/vision/resnet50", store=reg)
    path = report.write_html(tmp_path / "same.html", report.comparison_html(s.comparison, same_as=s))
    page = browser.open(path)
    try:
        _assert_offline(page, path)
        info = page.evaluate("""({
            matches: [...document.querySelectorAll('#matches-table tbody tr')].map(r => r.dataset.id),
            models: [...document.querySelectorAll('#comparison-table thead th')].slice(1).map(th => th.textContent),
            chart: !!document.querySelector('#chart'),
        })""")
    finally:
        page.close()
    assert info["matches"] == ["hf:timm/resnet50.a1_in1k"]
    assert info["models"] == ["torchhub:pytorch/vision/resnet50", "hf:timm/resnet50.a1_in1k"]
    assert info["chart"]


@pytest.mark.browser
def test_platforms_report_renders(browser, reg, tmp_path):
    path = report.write_html(tmp_path / "platforms.html", report.platforms_html(matrix(store=reg)))
    page = browser.open(path)
    try:
        _assert_offline(page, path)
        info = page.evaluate("""({
            live: [...document.querySelectorAll('#platforms-live tbody tr')].map(r =>
                [r.dataset.platform, r.classList.contains('informational'), r.querySelector('td').textContent]),
            facets: [...document.querySelectorAll('#platforms-facts tbody tr')].map(r => r.dataset.facet),
            columns: [...document.querySelectorAll('#platforms-facts thead th')].slice(1).map(th => th.dataset.platform),
            informationalColumns: document.querySelectorAll('#platforms-facts thead th.informational').length,
            bars: document.querySelectorAll('#shares rect').length,
            width: document.querySelector('#platforms-facts').getBoundingClientRect().width,
        })""")
    finally:
        page.close()
    assert [row[0] for row in info["live"]] == [f.name for f in FACTS]
    assert [row[1] for row in info["live"]] == [not f.supported for f in FACTS]
    assert dict((row[0], row[2]) for row in info["live"])["huggingface"] == "3"  # models known
    assert info["facets"] == [key for key, _ in FACETS]
    assert info["columns"] == [f.name for f in FACTS] and info["informationalColumns"] == 3
    assert info["bars"] == 3 * 2 * 2  # huggingface, tfhub, torchhub have models: 2 bars of 2 rects each
    assert info["width"] > 500


@pytest.mark.browser
def test_hostile_values_stay_text_in_the_browser(browser, reg, tmp_path, loopback):
    base, hits = loopback
    reg.upsert([_hostile(base)])
    c = compare(["hf:evil/bert-base-uncased", "hf:bert-base-uncased"], store=reg)
    path = report.write_html(tmp_path / "hostile.html", report.comparison_html(c))
    page = browser.open(path)
    try:
        info = page.evaluate("""({
            imgs: document.querySelectorAll('img').length,
            scripts: document.querySelectorAll('script').length,
            task: document.querySelector('tr[data-field=task] td .v').textContent,
        })""")
        _assert_offline(page, path)
    finally:
        page.close()
    assert info == {"imgs": 0, "scripts": 0, "task": f'"><img src="{base}/task.gif">'}
    assert hits == []


@pytest.mark.browser
def test_controls_the_detector_sees_a_leak_and_the_csp_blocks_it(browser, reg, tmp_path, loopback):
    """Without these the offline checks above could pass by never seeing anything."""
    base, hits = loopback
    path, _ = _comparison_page(reg, tmp_path)
    text = path.read_text()
    leak = text.replace("</body>", f'<img id="leak" src="{base}/pixel.gif"></body>')
    # 1. CSP removed: the request is made, the detector logs it, the server receives it
    no_csp = tmp_path / "no-csp.html"
    no_csp.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", leak))
    page = browser.open(no_csp)
    try:
        assert f"{base}/pixel.gif" in page.requests
    finally:
        page.close()
    assert hits == ["/pixel.gif"]
    # 2. the report's own CSP: the same image is blocked before it reaches the server
    with_csp = tmp_path / "with-csp.html"
    with_csp.write_text(leak)
    page = browser.open(with_csp)
    try:
        problems = page.problems
    finally:
        page.close()
    assert hits == ["/pixel.gif"]  # nothing new
    assert any("Content Security Policy" in p and "pixel.gif" in p for p in problems), problems


@pytest.mark.browser
def test_cli_html_opens_offline(browser, tmp_path, capsys):
    """The file `ptmhub compare --html` and `ptmhub platforms --html` write, end to end."""
    from ptmhub.cli import main
    from ptmhub.registry import open_store

    db = tmp_path / "reg.db"
    open_store(f"sqlite:///{db}").upsert(RECORDS)
    for args, marker in ((["compare", "hf:bert-base-uncased", "torchhub:pytorch/vision/resnet50"], "#comparison-table"),
                         (["compare", "--same-as", "hf:bert-base-uncased"], "#matches-table"),
                         (["platforms"], "#platforms-facts")):
        out = tmp_path / f"{args[0]}-{len(args)}.html"
        with pytest.raises(SystemExit) as info:
            main(["--db", str(db), *args, "--html", str(out)])
        assert info.value.code == 0, capsys.readouterr().err
        page = browser.open(out)
        try:
            _assert_offline(page, out)
            assert page.evaluate(f"document.querySelectorAll('{marker} tbody tr').length") > 0
        finally:
            page.close()
