"""The HTML report in a real browser: headless Chromium opens it as file:// and the test
fails on a broken image or on any console error.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: the
browser reads commands from fd 3 and writes replies and events to fd 4, NUL-separated
JSON), with the standard library only. The test records every ``Runtime.consoleAPICalled``
(``console.error`` / ``console.assert``), ``Runtime.exceptionThrown`` and ``Log.entryAdded``
of level ``error`` (failed resource loads, CSP and network errors), and asks the page for
each ``<img>``: loaded (``complete``) with ``naturalWidth > 0``. A control page with a
missing image, a corrupt image, a ``console.error`` and an uncaught exception proves that
each check fails when it should.

It also takes the README's screenshot with Chromium's own CLI (``--screenshot``
``--window-size=1200,1600``); ``scripts/report-screenshot.sh`` copies it to
``docs/img/report.png`` (environment variable ``SCALECMP_REPORT_SCREENSHOT``).

Chromium comes from ``scripts/ensure-chromium.sh`` (``make test`` runs it; apt-get
``chromium``). The test skips, saying why, only when no Chromium can be found or installed.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_IMAGES_JS = """(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  return imgs.map(i => ({alt: i.alt, src: (i.getAttribute('src') || '').slice(0, 48),
                         ok: i.complete && i.naturalWidth > 0,
                         width: i.naturalWidth, height: i.naturalHeight}));
})()"""


def find_chromium() -> str | None:
    env = os.environ.get("SCALECMP_CHROMIUM")
    if env:
        return shutil.which(env)
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:  # `make test` installs it first; a bare pytest run tries the same script
        script = REPO / "scripts" / "ensure-chromium.sh"
        try:
            out = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                                 timeout=900)
            why = (out.stdout + out.stderr).strip().splitlines()
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = [str(exc)]
        exe = find_chromium()
        if exe is None:
            pytest.skip("headless Chromium not found and not installable here: "
                        + " ".join(why[-3:]))
    return exe


class DevTools:
    """A minimal DevTools-protocol client over ``--remote-debugging-pipe``."""

    def __init__(self, exe: str, profile: Path, timeout: float = 60.0):
        self.timeout = timeout
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def fds() -> None:  # in the child: the pipe ends become fds 3 (in) and 4 (out)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit {self.proc.poll()})")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg:
            self.events.append(msg)
        return msg

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self._read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})

    def wait_event(self, method: str, session: str, timeout: float | None = None) -> dict:
        for e in self.events:
            if e["method"] == method and e.get("sessionId") == session:
                return e
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self._read(deadline)
            if m.get("method") == method and m.get("sessionId") == session:
                return m

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._read(deadline)
        except TimeoutError:
            pass

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


def check_page(exe: str, url: str, profile: Path) -> dict:
    """Open ``url``; return its images (loaded or not) and every console / log error."""
    dt = DevTools(exe, profile)
    try:
        target = dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            dt.call(f"{domain}.enable", session=s)
        nav = dt.call("Page.navigate", {"url": url}, session=s)
        if nav.get("errorText"):
            raise AssertionError(f"navigation to {url} failed: {nav['errorText']}")
        dt.wait_event("Page.loadEventFired", s)
        res = dt.call("Runtime.evaluate", {"expression": _IMAGES_JS, "awaitPromise": True,
                                           "returnByValue": True}, session=s)
        images = res["result"]["value"]
        title = dt.call("Runtime.evaluate", {"expression": "document.title",
                                             "returnByValue": True}, session=s)
        dt.drain(0.5)  # messages logged after the load event
    finally:
        dt.close()
    errors = []
    for e in dt.events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console." + p["type"] + ": " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif e["method"] == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append("exception: " + str(d.get("exception", {}).get("description")
                                              or d.get("text")))
        elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(f"log ({p['entry'].get('source')}): {p['entry'].get('text')} "
                          f"{p['entry'].get('url', '')}")
    return {"images": images, "errors": errors, "title": title["result"].get("value")}


def _frame() -> pd.DataFrame:
    """A simulated measurement table: two procedures that cross, one task and metric."""
    rng = np.random.default_rng(11)
    c = np.geomspace(1e7, 1e12, 30)
    rows = []
    for proc, amp, alpha in (("clip", 6.0, -0.11), ("mammut", 30.0, -0.18)):
        err = amp * c**alpha + 0.08
        for jitter in (1.0, 1.12):
            v = 1 - np.clip(err * jitter * np.exp(rng.normal(0, 0.008, len(c))), 0, 0.99)
            rows.append(pd.DataFrame({"procedure": proc, "task": "zeroshot",
                                      "metric": "acc1", "dataset": "synthetic",
                                      "gflops_total": c, "value": v}))
    return pd.concat(rows, ignore_index=True)


def test_the_checks_catch_broken_pages(chromium, tmp_path):
    """Control: each failure the report test looks for is detected."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        '<img alt="missing" src="no-such-file.png">'
        '<img alt="corrupt" src="data:image/png;base64,iVBORw0KGgoAAAAN">'
        '<img alt="fine" src="data:image/gif;base64,'
        'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    out = check_page(chromium, page.as_uri(), tmp_path / "profile")
    broken = sorted(i["alt"] for i in out["images"] if not i["ok"])
    assert broken == ["corrupt", "missing"]
    joined = "\n".join(out["errors"])
    assert "console.error: boom" in joined
    assert "undefinedFunction" in joined
    assert "no-such-file.png" in joined  # the failed load is logged as an error


def test_report_in_chromium(chromium, tmp_path):
    from scalecmp.report import ReportOptions, write_report

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write_report(_frame(), tmp_path / "report", by="procedure",
                            series=("task", "metric"), maximize=True, n_bootstrap=40,
                            report=ReportOptions(
                                title="scalecmp report: clip vs mammut (simulated)"))
    t_report = time.perf_counter() - t0
    html = path.read_text()
    n_figures = html.count("<figure>")
    assert n_figures == 3  # the held-out check, then the fit and comparison of the series

    t0 = time.perf_counter()
    out = check_page(chromium, path.as_uri(), tmp_path / "profile")
    t_check = time.perf_counter() - t0
    assert out["title"] == "scalecmp report: clip vs mammut (simulated)"
    assert not out["errors"], "console errors:\n" + "\n".join(out["errors"])
    assert len(out["images"]) == n_figures
    bad = [i for i in out["images"] if not i["ok"]]
    assert not bad, f"broken images: {bad}"
    assert all(i["width"] >= 600 and i["height"] >= 400 for i in out["images"])

    # the screenshot the README shows, taken by Chromium's own CLI
    shot = tmp_path / "report.png"
    t0 = time.perf_counter()
    subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile-shot'}", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1200,1600", path.as_uri()],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False,
    )
    t_shot = time.perf_counter() - t0
    assert shot.exists(), "chromium wrote no screenshot"
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[:2] == (1600, 1200)
    assert img[..., :3].std() > 0.05  # not a blank page
    target = os.environ.get("SCALECMP_REPORT_SCREENSHOT")
    if target:
        _save_small_png(shot, Path(target))
    print(f"report {t_report:.1f} s, browser check {t_check:.1f} s, screenshot {t_shot:.1f} s")


def _save_small_png(src: Path, dst: Path, limit: int = 300_000) -> None:
    """Copy the screenshot, as a 256-colour PNG when the full-colour one is over ``limit``
    bytes (the README's images stay small)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.stat().st_size <= limit:
        shutil.copyfile(src, dst)
        return
    from PIL import Image

    Image.open(src).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(
        dst, optimize=True)
