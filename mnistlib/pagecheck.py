"""Open an exported HTML file in headless Chromium with the network cut off, and say what is broken.

A report that looks fine on the author's machine can still show empty boxes in class: a figure that did not
load, a script fetched from a CDN, reveal.js that never started. This drives Chromium through the DevTools
protocol over ``--remote-debugging-pipe`` (standard library only, no port), blocks and records every request
that would leave the machine, checks each <img>, reveal.js and arrow-key navigation, and takes screenshots.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["BROWSER_NAMES", "CdpError", "check_page", "find_browser"]

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",  # belt and braces: even an IP address cannot be reached
    "--proxy-bypass-list=<-loopback>",
)
_EXTERNAL_SCHEMES = ("http:", "https:", "ws:", "wss:", "ftp:")

# Runs in the page once it has loaded: waits for images, fonts and reveal.js, then describes the page.
_INSPECT_JS = r"""
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const imgs = Array.from(document.images);
  await Promise.race([
    Promise.all(imgs.map((i) => i.decode().catch(() => null))),
    sleep(10000),
  ]);
  if (document.fonts) { await Promise.race([document.fonts.ready, sleep(3000)]); }
  const deck = document.querySelector('.reveal');
  let reveal = null;
  if (deck) {
    for (let t = 0; t < 100 && typeof Reveal !== 'undefined' && !(Reveal.isReady && Reveal.isReady()); t++) {
      await sleep(50);
    }
    const ready = typeof Reveal !== 'undefined' && !!Reveal.isReady && Reveal.isReady();
    reveal = {loaded: typeof Reveal !== 'undefined', ready: ready, ready_class: deck.classList.contains('ready')};
    if (ready) {
      reveal.total_slides = Reveal.getTotalSlides();
      reveal.horizontal_slides = Reveal.getHorizontalSlides().length;
      reveal.indices = Reveal.getIndices();
      const leaf = Array.from(document.querySelectorAll('.reveal .slides section'))
        .find((s) => !s.querySelector('section') && s.querySelector('img'));
      reveal.figure_slide = leaf ? Reveal.getIndices(leaf) : null;
    }
  }
  const external = (u) => /^(https?|wss?|ftp):/i.test(u || '');
  const fetching = 'script[src],link[href],iframe[src],embed[src],source[src],video[src],audio[src],object[data]';
  const tags = Array.from(document.querySelectorAll(fetching));
  return {
    title: document.title,
    images: imgs.map((i) => ({
      src: (i.currentSrc || i.src || '').slice(0, 80), width: i.naturalWidth, height: i.naturalHeight,
    })),
    external_tags: tags.map((t) => t.src || t.href || t.data).filter(external)
      .concat(imgs.map((i) => i.src).filter(external)),
    scripts: document.scripts.length,
    reveal: reveal,
  };
})()
"""


class CdpError(RuntimeError):
    """The browser answered a DevTools command with an error, or did not answer in time."""


def find_browser() -> str | None:
    """Path of a Chromium-family browser on PATH, or None (the browser tests then skip)."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd: int) -> int:
    """Move a descriptor to >= 10 (close-on-exec) so that mapping the child's fds 0-4 cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class _Browser:
    """A headless Chromium spoken to over the DevTools pipe (fd 3: commands in, fd 4: replies and events out)."""

    def __init__(self, executable: str, user_data_dir: Path, log_path: Path, size: tuple[int, int]) -> None:
        cmd_read, self._cmd_write = os.pipe()
        self._out_read, out_write = os.pipe()
        cmd_read, out_write = _high_fd(cmd_read), _high_fd(out_write)
        log_fd = _high_fd(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        null_fd = _high_fd(os.open(os.devnull, os.O_RDONLY))
        argv = [
            executable,
            *BROWSER_FLAGS,
            f"--window-size={size[0]},{size[1]}",
            f"--user-data-dir={user_data_dir}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        actions = [
            (os.POSIX_SPAWN_DUP2, null_fd, 0),
            (os.POSIX_SPAWN_DUP2, log_fd, 1),
            (os.POSIX_SPAWN_DUP2, log_fd, 2),
            (os.POSIX_SPAWN_DUP2, cmd_read, 3),
            (os.POSIX_SPAWN_DUP2, out_write, 4),
        ]
        try:
            # Own process group: closing can end the browser and its helper processes, and nothing else.
            self.pid = os.posix_spawn(executable, argv, dict(os.environ), file_actions=actions, setpgroup=0)
        finally:
            for fd in (cmd_read, out_write, log_fd, null_fd):
                os.close(fd)
        self.log_path = log_path
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.on_event: Callable[[dict[str, Any]], None] | None = None

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._cmd_write, data) :]

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        """Next message from the browser, or None at the deadline."""
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._out_read], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._out_read, 1 << 20)
            if not chunk:
                tail = self.log_path.read_text(errors="replace")[-800:] if self.log_path.exists() else ""
                raise CdpError(f"browser closed the DevTools pipe; its log ends with:\n{tail}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
            if self.on_event is not None:
                self.on_event(message)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        """Send a command without waiting for its answer."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send(message)
        return self._next_id

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        """Send a command and return its result, collecting the events that arrive meanwhile."""
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message is None:
                raise CdpError(f"{method}: no answer within {timeout:.0f} s")
            if message.get("id") == wanted:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def wait_event(self, method: str, since: int, timeout: float) -> dict[str, Any] | None:
        """First event `method` at or after position `since` of the event log, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[since:]:
                if event["method"] == method:
                    return event
            if self._receive(deadline) is None:
                return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        for fd in (self._cmd_write, self._out_read):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def _browser(executable: str, workdir: Path, size: tuple[int, int]) -> Iterator[_Browser]:
    browser = _Browser(executable, workdir / "profile", workdir / "chromium.log", size)
    try:
        yield browser
    finally:
        browser.close()


def _evaluate(browser: _Browser, session: str, expression: str, timeout: float = 30.0) -> Any:
    result = browser.call(
        "Runtime.evaluate",
        {"expression": expression, "awaitPromise": True, "returnByValue": True},
        session=session,
        timeout=timeout,
    )
    if "exceptionDetails" in result:
        details = result["exceptionDetails"]
        raise CdpError(f"page script failed: {details.get('exception', {}).get('description') or details.get('text')}")
    return result.get("result", {}).get("value")


def _load(browser: _Browser, session: str, url: str, timeout: float) -> None:
    since = len(browser.events)
    answer = browser.call("Page.navigate", {"url": url}, session=session, timeout=timeout)
    if answer.get("errorText"):
        raise CdpError(f"cannot open {url}: {answer['errorText']}")
    if browser.wait_event("Page.loadEventFired", since, timeout) is None:
        raise CdpError(f"{url}: no load event within {timeout:.0f} s")


def _screenshot(browser: _Browser, session: str, path: Path) -> Path:
    data = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(data))
    return path


def _press(browser: _Browser, session: str, key: str, code: int) -> None:
    for kind in ("rawKeyDown", "keyUp"):
        browser.call(
            "Input.dispatchKeyEvent",
            {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code},
            session=session,
        )


def _summarise_events(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    urls: dict[str, str] = {}
    external: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if url.lower().startswith(_EXTERNAL_SCHEMES):
                external.append(url)
        elif method == "Fetch.requestPaused":
            external.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            external.append(params["url"])
        elif method == "Network.loadingFailed":
            failed.append(f"{urls.get(params['requestId'], '?')}: {params.get('errorText')}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(
                "console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            if params["entry"].get("source") == "network":
                continue  # the same failure is already in failed_requests
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    return {
        "external_requests": sorted(set(external)),
        "failed_requests": failed,
        "js_errors": errors,
    }


def check_page(
    html_path: str | os.PathLike[str],
    screenshot_path: str | os.PathLike[str],
    *,
    browser: str | None = None,
    size: tuple[int, int] = (1280, 800),
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Open `html_path` from a file:// URL, offline, and return what was found; result["ok"] says if all is well.

    Screenshots: `screenshot_path` shows the first view (the title slide of a deck); `<stem>-figure.png` beside
    it shows the first figure (scrolled into view, or the first slide holding an <img>). Problems: any request
    leaving the machine, failed loads, script errors, <img> with naturalWidth 0, reveal.js not ready, arrow keys
    not moving the deck, external src/href left in the DOM.
    """
    from mnistlib.export import find_external_references

    html_path = Path(html_path).resolve()
    screenshot_path = Path(screenshot_path)
    if not html_path.is_file():
        raise FileNotFoundError(f"no such page: {html_path}")
    executable = browser or find_browser()
    if executable is None:
        raise FileNotFoundError(
            f"no browser found (looked for {', '.join(BROWSER_NAMES)}); run scripts/install_browser.sh"
        )
    url = html_path.as_uri()
    result: dict[str, Any] = {
        "url": url,
        "static_external_references": find_external_references(html_path.read_text(encoding="utf-8", errors="replace")),
        "screenshots": [],
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mnistlib-chromium-") as tmp, _browser(executable, Path(tmp), size) as b:
        targets = b.call("Target.getTargets")["targetInfos"]
        page = next((t["targetId"] for t in targets if t["type"] == "page"), None)
        if page is None:
            page = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = b.call("Target.attachToTarget", {"targetId": page, "flatten": True})["sessionId"]

        def refuse_external(event: dict[str, Any]) -> None:
            if event["method"] == "Fetch.requestPaused":
                b.send(
                    "Fetch.failRequest",
                    {"requestId": event["params"]["requestId"], "errorReason": "BlockedByClient"},
                    session,
                )

        b.on_event = refuse_external
        for domain in ("Page", "Network", "Runtime", "Log"):
            b.call(f"{domain}.enable", session=session)
        patterns = [{"urlPattern": f"{scheme}//*"} for scheme in _EXTERNAL_SCHEMES]
        b.call("Fetch.enable", {"patterns": patterns}, session=session)
        b.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        first_event = len(b.events)
        _load(b, session, url, timeout)
        page_info = _evaluate(b, session, _INSPECT_JS, timeout)
        result["screenshots"].append(str(_screenshot(b, session, screenshot_path)))
        reveal = page_info.get("reveal")
        if reveal and reveal.get("ready") and reveal.get("total_slides", 0) > 1:
            state = "JSON.stringify(Reveal.getIndices())"
            before = _evaluate(b, session, state)
            _press(b, session, "ArrowRight", 39)
            moved = _evaluate(b, session, f"new Promise(r => setTimeout(() => r({state}), 300))")
            _press(b, session, "ArrowLeft", 37)
            back = _evaluate(b, session, f"new Promise(r => setTimeout(() => r({state}), 300))")
            reveal["keyboard"] = {
                "before": json.loads(before),
                "after_right": json.loads(moved),
                "after_left": json.loads(back),
            }
            reveal["keyboard_ok"] = moved != before and back == before
        events = list(b.events[first_event:])
        figure_shot = screenshot_path.with_name(f"{screenshot_path.stem}-figure{screenshot_path.suffix or '.png'}")
        if reveal and reveal.get("figure_slide"):
            indices = reveal["figure_slide"]
            _load(b, session, "about:blank", timeout)
            _load(b, session, f"{url}#/{indices['h']}/{indices.get('v') or 0}", timeout)
            _evaluate(b, session, _INSPECT_JS, timeout)
            result["screenshots"].append(str(_screenshot(b, session, figure_shot)))
        elif not reveal and page_info["images"]:
            _evaluate(
                b, session, "document.images[0].scrollIntoView({block: 'center'}); new Promise(r => setTimeout(r, 100))"
            )
            result["screenshots"].append(str(_screenshot(b, session, figure_shot)))
    result.update(_summarise_events(events))
    result["title"] = page_info["title"]
    result["images"] = {
        "total": len(page_info["images"]),
        "broken": [img["src"] for img in page_info["images"] if not img["width"]],
    }
    result["dom_external_tags"] = page_info["external_tags"]
    result["reveal"] = reveal
    result["seconds"] = round(time.monotonic() - started, 2)

    problems: list[str] = []
    problems += [f"external reference in the file: {ref}" for ref in result["static_external_references"]]
    problems += [f"request leaving the machine: {u}" for u in result["external_requests"]]
    problems += [f"failed to load: {f}" for f in result["failed_requests"]]
    problems += [f"script error: {e}" for e in result["js_errors"]]
    problems += [f"image not loaded: {src}" for src in result["images"]["broken"]]
    problems += [f"external tag in the DOM: {u}" for u in result["dom_external_tags"]]
    if reveal is not None:
        if not reveal.get("ready"):
            problems.append(
                "reveal.js did not initialise" + ("" if reveal.get("loaded") else " (Reveal is not defined)")
            )
        elif "keyboard_ok" in reveal and not reveal["keyboard_ok"]:
            problems.append(f"arrow keys do not move the deck: {reveal.get('keyboard')}")
    result["problems"] = problems
    result["ok"] = not problems
    return result
