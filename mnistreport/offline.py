"""Pages that open with no network: find what a page would fetch, drop it, and refuse to write a page that still would.

Reports and decks are presented from a laptop, often offline, so everything they need (figures, CSS, reveal.js,
fonts) is inlined; what is left that would reach the network or a file beside the page is removed with a warning.
"""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

from mnistfiles.io import atomic_path
from mnistlib import paths

__all__ = ["find_external_references", "make_self_contained", "write_verified"]

# Tags whose src/href/... make the browser fetch something when the page opens (<a href> only navigates on click).
FETCHING_ATTRS: dict[str, tuple[str, ...]] = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "source": ("src", "srcset"),
    "track": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "input": ("src",),
    "base": ("href",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
}
_REMOTE = re.compile(r"^\s*(?:https?:|wss?:|ftp:)?//", re.IGNORECASE)
_INLINE = re.compile(r"^\s*(?:data:|blob:|about:|javascript:|#|$)", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?(['"]?)([^'")\s;]+)\1\s*\)?[^;]*;""", re.IGNORECASE)


def _is_remote(url: str) -> bool:
    return bool(_REMOTE.match(url))


def _is_unbundled(url: str) -> bool:
    """Remote, or a local file next to the HTML: either breaks once the file is opened on another laptop."""
    return not _INLINE.match(url)


def _srcset_urls(value: str) -> list[str]:
    return [part.strip().split()[0] for part in value.split(",") if part.strip()]


def _css_urls(css: str) -> list[str]:
    urls = [m.group(2) for m in _CSS_URL.finditer(css)]
    urls += [m.group(2) for m in CSS_IMPORT.finditer(css) if not m.group(0).lower().startswith("@import url(")]
    return urls


class _ReferenceScanner(HTMLParser):
    """Collect every URL the page would load by itself, from tags, style attributes and <style> blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (where, url)
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in FETCHING_ATTRS.get(tag, ()):
                urls = _srcset_urls(value) if name == "srcset" else [value]
                self.found += [(f"<{tag} {name}>", url) for url in urls]
            elif name == "style":
                self.found += [(f"<{tag} style>", url) for url in _css_urls(value)]
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [("<style>", url) for url in _css_urls(data)]


def find_external_references(html: str, *, include_local: bool = False) -> list[str]:
    """List what the page would fetch from the network (or, with include_local, from files beside it).

    Plain links in prose (<a href>) do not count: they load nothing until clicked.
    """
    scanner = _ReferenceScanner()
    scanner.feed(html)
    scanner.close()
    wanted = _is_unbundled if include_local else _is_remote
    return [f"{where} {url}" for where, url in scanner.found if wanted(url)]


def _strip_css_urls(css: str, removed: list[str]) -> str:
    def import_repl(match: re.Match[str]) -> str:
        if _is_unbundled(match.group(2)):
            removed.append(match.group(2))
            return "/* offline export: @import removed */"
        return match.group(0)

    def url_repl(match: re.Match[str]) -> str:
        if _is_unbundled(match.group(2)):
            removed.append(match.group(2))
            return "none"
        return match.group(0)

    return _CSS_URL.sub(url_repl, CSS_IMPORT.sub(import_repl, css))


def make_self_contained(html: str) -> str:
    """Drop every reference the page would fetch (warning about each), so that it never waits on the network.

    The templates load nothing; what remains comes from notebook content, e.g. a Markdown image with a URL.
    """
    if not find_external_references(html, include_local=True):
        return html
    from bs4 import BeautifulSoup  # nbconvert's own dependency; only needed when something has to go

    soup = BeautifulSoup(html, features="html.parser")
    removed: list[str] = []
    for tag in soup.find_all(True):
        for name in FETCHING_ATTRS.get(tag.name, ()):
            value = tag.get(name)
            urls = _srcset_urls(value) if name == "srcset" and isinstance(value, str) else [value]
            if isinstance(value, str) and any(_is_unbundled(u) for u in urls):
                removed.append(value)
                del tag[name]
                tag[f"data-offline-removed-{name.replace(':', '-')}"] = value
        if isinstance(tag.get("style"), str):
            tag["style"] = _strip_css_urls(tag["style"], removed)
        if tag.name == "style" and tag.string:
            tag.string.replace_with(_strip_css_urls(str(tag.string), removed))
    if removed:
        shown = ", ".join(url[:80] for url in sorted(set(removed))[:5])
        warnings.warn(f"offline export: removed {len(removed)} external reference(s): {shown}", stacklevel=3)
    return str(soup)


def without_machine_paths(html: str) -> str:
    """Show paths inside the repository relative to it: a page must not carry this machine's folders."""
    root = str(paths.ROOT)
    return html.replace(root + "/", "").replace(root, ".")


def write_verified(html: str, out_html: Path) -> Path:
    """Write atomically, then read the written file back and refuse it if it would touch the network."""
    out_html = Path(out_html)
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
        leftovers = find_external_references(tmp.read_text(encoding="utf-8"), include_local=True)
        if leftovers:
            raise RuntimeError(f"{out_html}: export still references external resources: {leftovers[:5]}")
    return out_html
