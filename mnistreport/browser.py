"""Open exported pages in Debian's Chromium through Playwright, with the network cut off: check, screenshot, print.

A report that looks fine on the author's machine can still show empty boxes in class: a figure that did not
load, a script fetched from a CDN, reveal.js that never started. `check_page` opens the file from a file://
URL, refuses and records every request that would leave the machine, checks each <img>, reveal.js and
arrow-key navigation, and takes screenshots. `screenshot_deck` photographs every slide (to look at them at a
projector's size), `measure_deck` measures every slide as shown on a screen of a given size (text sizes in
screen pixels, words, figures' rendered sizes, overflow), `print_pdf` prints a page to PDF. Playwright drives the
system Chromium (`executable_path`), so nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mnistreport.offline import find_external_references

__all__ = ["BROWSER_NAMES", "check_page", "find_browser", "launch", "measure_deck", "offline_page", "print_pdf",
           "screenshot_deck"]

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium as root in a container needs --no-sandbox; no background traffic, no GPU on a headless server.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
                 "--hide-scrollbars"]
_LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

# Runs in the page once it has loaded: waits for images, fonts and reveal.js, then describes the page.
_INSPECT_JS = r"""
async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const imgs = Array.from(document.images);
  await Promise.race([Promise.all(imgs.map((i) => i.decode().catch(() => null))), sleep(10000)]);
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
      const at = leaf ? Reveal.getIndices(leaf) : null;
      reveal.figure_slide = at ? {h: at.h, v: at.v || 0} : null;
    }
  }
  const external = (u) => /^(https?|wss?|ftp):/i.test(u || '');
  const fetching = 'script[src],link[href],iframe[src],embed[src],source[src],video[src],audio[src],object[data]';
  return {
    title: document.title,
    images: imgs.map((i) => ({src: (i.currentSrc || i.src || '').slice(0, 80), width: i.naturalWidth})),
    external_tags: Array.from(document.querySelectorAll(fetching)).map((t) => t.src || t.href || t.data)
      .filter(external).concat(imgs.map((i) => i.src).filter(external)),
    reveal: reveal,
  };
}
"""


def find_browser() -> str | None:
    """Path of a Chromium-family browser on PATH, or None (the browser tests then skip)."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@contextlib.contextmanager
def launch(executable: str | None = None) -> Iterator[Any]:
    """A headless Playwright Browser on the system Chromium (no download); closed on exit."""
    executable = executable or find_browser()
    if executable is None:
        raise FileNotFoundError(f"no browser found (looked for {', '.join(BROWSER_NAMES)}); "
                                "run scripts/install_browser.sh (it installs Debian's chromium with apt)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ImportError("Playwright for Python is needed to drive Chromium: pip install -e '.[dev]' "
                          "(make setup does it)") from exc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def _browser(browser: Any | None) -> Iterator[Any]:
    if browser is not None:
        yield browser
    else:
        with launch() as launched:
            yield launched


@contextlib.contextmanager
def offline_page(browser: Any, size: tuple[int, int] = (1280, 800), scale: float = 1) -> Iterator[Any]:
    """A fresh page whose requests that leave the machine are refused, with what happened recorded on it.

    page.refused: URLs refused; page.failed: local loads that failed; page.errors: script errors and
    console.error messages.
    """
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, device_scale_factor=scale)
    page = context.new_page()
    page.refused, page.failed, page.errors = [], [], []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(_LOCAL_SCHEMES):
            route.continue_()
        else:
            page.refused.append(url)
            route.abort("blockedbyclient")

    def failed(request: Any) -> None:
        if request.url not in page.refused:
            page.failed.append(f"{request.url}: {request.failure}")

    def console(message: Any) -> None:
        # A failed load is already in page.failed; Chromium also logs it as a console error.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page.errors.append(f"console.error: {message.text}")

    page.route("**/*", guard)
    page.on("requestfailed", failed)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", console)
    try:
        yield page
    finally:
        context.close()


def _open(page: Any, url: str, timeout: float) -> dict[str, Any]:
    page.goto(url, wait_until="load", timeout=timeout * 1000)
    return page.evaluate(_INSPECT_JS)


def check_page(
    html_path: str | os.PathLike[str],
    screenshot_path: str | os.PathLike[str],
    *,
    browser: Any | None = None,
    size: tuple[int, int] = (1280, 800),
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Open `html_path` from a file:// URL, offline, and return what was found; result["ok"] says if all is well.

    Screenshots: `screenshot_path` shows the first view (the title slide of a deck); `<stem>-figure.png` beside
    it shows the first figure (scrolled into view, or the first slide holding an <img>). Problems: any request
    leaving the machine, failed loads, script errors, <img> that did not decode, reveal.js not ready, arrow keys
    not moving the deck, external src/href left in the file or the DOM. `browser`: a Playwright Browser to
    reuse (default: launch the system Chromium for this check).
    """
    html_path = Path(html_path).resolve()
    screenshot_path = Path(screenshot_path)
    if not html_path.is_file():
        raise FileNotFoundError(f"no such page: {html_path}")
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    figure_shot = screenshot_path.with_name(f"{screenshot_path.stem}-figure{screenshot_path.suffix or '.png'}")
    url = html_path.as_uri()
    result: dict[str, Any] = {
        "url": url,
        "static_external_references": find_external_references(html_path.read_text(encoding="utf-8", errors="replace")),
        "screenshots": [],
    }
    with _browser(browser) as launched, offline_page(launched, size) as page:
        info = _open(page, url, timeout)
        page.screenshot(path=str(screenshot_path))
        result["screenshots"].append(str(screenshot_path))
        reveal = info["reveal"]
        if reveal and reveal.get("ready") and reveal.get("total_slides", 0) > 1:
            state = "() => JSON.stringify(Reveal.getIndices())"
            before = page.evaluate(state)
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(300)
            moved = page.evaluate(state)
            page.keyboard.press("ArrowLeft")
            page.wait_for_timeout(300)
            back = page.evaluate(state)
            reveal["keyboard"] = {"before": before, "after_right": moved, "after_left": back}
            reveal["keyboard_ok"] = moved != before and back == before
        if reveal and reveal.get("figure_slide"):
            where = reveal["figure_slide"]
            page.goto("about:blank")
            _open(page, f"{url}#/{where['h']}/{where.get('v') or 0}", timeout)
            page.screenshot(path=str(figure_shot))
            result["screenshots"].append(str(figure_shot))
        elif not reveal and info["images"]:
            page.evaluate("() => document.images[0].scrollIntoView({block: 'center'})")
            page.wait_for_timeout(100)
            page.screenshot(path=str(figure_shot))
            result["screenshots"].append(str(figure_shot))
        result.update(external_requests=sorted(set(page.refused)), failed_requests=list(page.failed),
                      js_errors=list(page.errors))
    result["title"] = info["title"]
    result["images"] = {"total": len(info["images"]), "broken": [i["src"] for i in info["images"] if not i["width"]]}
    result["dom_external_tags"] = info["external_tags"]
    result["reveal"] = reveal

    problems: list[str] = []
    problems += [f"external reference in the file: {ref}" for ref in result["static_external_references"]]
    problems += [f"request leaving the machine: {u}" for u in result["external_requests"]]
    problems += [f"failed to load: {f}" for f in result["failed_requests"]]
    problems += [f"script error: {e}" for e in result["js_errors"]]
    problems += [f"image not loaded: {src}" for src in result["images"]["broken"]]
    problems += [f"external tag in the DOM: {u}" for u in result["dom_external_tags"]]
    if reveal is not None:
        if not reveal.get("ready"):
            why = "" if reveal.get("loaded") else " (Reveal is not defined)"
            problems.append(f"reveal.js did not initialise{why}")
        elif "keyboard_ok" in reveal and not reveal["keyboard_ok"]:
            problems.append(f"arrow keys do not move the deck: {reveal.get('keyboard')}")
    result["problems"] = problems
    result["ok"] = not problems
    return result


def screenshot_deck(
    deck: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, size: tuple[int, int] = (1280, 800),
    browser: Any | None = None, timeout: float = 30.0,
) -> list[Path]:
    """One PNG per slide of a reveal.js deck (slide-HH-VV.png) at the given window size, to look at them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = Path(deck).resolve().as_uri()
    shots = []
    with _browser(browser) as launched, offline_page(launched, size) as page:
        info = _open(page, url, timeout)
        if not (info["reveal"] or {}).get("ready"):
            raise RuntimeError(f"{deck}: reveal.js did not initialise")
        slides = page.evaluate("() => Array.from(document.querySelectorAll('.reveal .slides section'))"
                               ".filter((s) => !s.querySelector('section')).map((s) => Reveal.getIndices(s))")
        for where in slides:
            page.evaluate(f"() => Reveal.slide({where['h']}, {where.get('v') or 0})")
            page.wait_for_timeout(700)  # the slide transition
            path = out_dir / f"slide-{where['h']:02d}-{where.get('v') or 0:02d}.png"
            page.screenshot(path=str(path))
            shots.append(path)
    return shots


# Runs in a loaded deck: shows each slide in turn with all its fragments (no transition, the deck's own fitting
# applied) and measures it.
_MEASURE_JS = r"""
async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  Reveal.configure({transition: 'none', backgroundTransition: 'none'});
  const config = Reveal.getConfig(), slides = document.querySelector('.reveal .slides');
  const shown = (el) => { const style = getComputedStyle(el);
    return style.display !== 'none' && style.visibility !== 'hidden' && el.getClientRects().length > 0; };
  const leaves = Array.from(document.querySelectorAll('.reveal .slides section'))
    .filter((s) => !s.querySelector('section'));
  const out = [];
  for (const section of leaves) {
    const at = Reveal.getIndices(section);
    const fragments = section.querySelectorAll('.fragment').length;  // all of them shown: the slide at its fullest
    Reveal.slide(at.h, at.v || 0, fragments ? fragments - 1 : undefined);
    await sleep(80);
    const box = slides.getBoundingClientRect(), scale = box.width / config.width;
    const texts = [];
    const walker = document.createTreeWalker(section, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || !el || el.closest('aside.notes, script, style') || !shown(el)) {
        continue;
      }
      const r = el.getBoundingClientRect();
      texts.push({text: node.textContent.trim(), px: parseFloat(getComputedStyle(el).fontSize) * scale,
                  demo: !!el.closest('.mnist-demo'), table: !!el.closest('table'), heading: !!el.closest('h1, h2, h3'),
                  right: r.right - box.right, bottom: r.bottom - box.bottom});
    }
    const images = Array.from(section.querySelectorAll('img')).filter(shown).map((img) => {
      const r = img.getBoundingClientRect(), src = img.currentSrc || img.src || '';
      return {key: src.slice(src.indexOf(',') + 1).slice(2000, 2100), width: r.width, height: r.height,
              natural_width: img.naturalWidth, natural_height: img.naturalHeight, bottom: r.bottom - box.bottom};
    });
    const heading = section.querySelector('h1, h2');
    const stack = section.parentElement.closest('section');  // a vertical slide: its stack says the part
    out.push({h: at.h, v: at.v || 0, part: section.dataset.mnistPart || (stack && stack.dataset.mnistPart) || '',
              scale: scale,
              slide_width: box.width, slide_height: box.height,
              heading: heading ? heading.textContent.trim() : '', texts: texts, images: images,
              overflow: (section.scrollHeight - config.height) * scale,
              notes: Array.from(section.querySelectorAll('aside.notes')).map((n) => n.textContent.trim()).join('\n')});
  }
  return out;
}
"""


def words(text: str) -> int:
    """Words as the audience reads them: whitespace-separated tokens with a letter in them (a number such as 98.99%
    or a sign is not a word; LeNet-5 and 5x5 are)."""
    return sum(1 for token in text.split() if any(ch.isalpha() for ch in token))


def measure_deck(
    deck: str | os.PathLike[str], *, size: tuple[int, int] = (1024, 768), browser: Any | None = None,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Every slide of a reveal.js deck as shown on a `size` screen, measured after the deck has fitted it.

    One dict per slide: h, v (reveal.js indices), part (the section's data-mnist-part: title, main, takeaways,
    appendix-contents, appendix), heading, notes (speaker notes' text), overflow (screen px the content runs past
    the slide's bottom; <= 0 when it fits), texts (every visible text node: text, px = its font size in screen
    pixels, whether it is in a table, a heading or the live demo, right/bottom = screen px past the slide's
    edges), images (rendered width/height in screen px, natural size, key = a slice of its data URL), words (the
    slide's words outside the speaker notes and the live demo, see `words`), min_text_px (smallest text outside
    the live demo).
    """
    with _browser(browser) as launched, offline_page(launched, size) as page:
        info = _open(page, Path(deck).resolve().as_uri(), timeout)
        if not (info["reveal"] or {}).get("ready"):
            raise RuntimeError(f"{deck}: reveal.js did not initialise")
        slides = page.evaluate(_MEASURE_JS)
        if page.errors:
            raise RuntimeError(f"{deck}: script errors while measuring: {page.errors[:3]}")
    for slide in slides:
        shown = [t for t in slide["texts"] if not t["demo"]]
        slide["words"] = sum(words(t["text"]) for t in shown)
        slide["min_text_px"] = min((t["px"] for t in shown), default=None)
    return slides


def print_pdf(
    html_path: str | os.PathLike[str], out_pdf: str | os.PathLike[str], *, browser: Any | None = None,
    timeout: float = 60.0,
) -> Path:
    """Print a page to PDF with Chromium, as its print CSS lays it out (A4, backgrounds kept), atomically."""
    from mnistfiles.io import atomic_path

    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no such page: {html_path}")
    with _browser(browser) as launched, offline_page(launched) as page:
        _open(page, html_path.as_uri(), timeout)
        page.emulate_media(media="print")
        with atomic_path(Path(out_pdf)) as tmp:
            tmp.write_bytes(page.pdf(prefer_css_page_size=True, print_background=True, outline=True, tagged=True))
        if page.refused:
            raise RuntimeError(f"{html_path}: the page asked the network for {page.refused[:3]}")
    return Path(out_pdf)
