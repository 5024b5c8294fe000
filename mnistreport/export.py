"""Turn executed notebooks into one offline HTML report and one offline reveal.js deck (nbconvert does the work).

What reaches a page is decided by cell metadata, the same in every output:

- tags `remove-cell`, `remove-input`, `remove-output` (nbconvert's TagRemovePreprocessor): the cell, its code
  or its outputs are left out of the report, the PDF and the slides;
- `slideshow.slide_type` (JupyterLab's property inspector): only cells marked slide, subslide, fragment, `-`
  or notes reach the deck, outputs only;
- tag `no-slide`: the cell stays in the report but never reaches the deck, even when marked as a slide; as an
  output tag (`display(..., metadata={"tags": ["no-slide"]})`) it keeps one output off the deck;
- printed text (stdout/stderr, e.g. progress lines) never reaches the deck: a slide shows figures, tables and
  Markdown.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import html as html_lib
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from mnistreport.info import ReportInfo, load_info
from mnistreport.offline import CSS_IMPORT, make_self_contained, without_machine_paths, write_verified

__all__ = [
    "NO_SLIDE_TAG",
    "NotebookError",
    "export_report",
    "export_slides",
    "find_reveal",
    "report_html",
]

REVEAL_ENV = "MNISTLIB_REVEAL_DIR"
VENDORED_REVEAL = Path(__file__).resolve().parent / "vendor" / "reveal.js"  # see its README.md
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
REMOVE_CELL_TAGS = {"remove-cell", "remove_cell"}
REMOVE_INPUT_TAGS = {"remove-input", "remove_input"}
REMOVE_OUTPUT_TAGS = {"remove-output", "remove_output"}
NO_SLIDE_TAG = "no-slide"


class NotebookError(ValueError):
    """A notebook given to an export cannot be read; the message names the file."""


# ---------------------------------------------------------------------------------------------- notebooks
def _read_notebook(path: Path) -> NotebookNode:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # schema nits are not our business here, unreadable JSON is
            nb = nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, UnicodeDecodeError, nbformat.reader.NotJSONError) as exc:
        raise NotebookError(f"{path}: not a valid notebook (not valid JSON: {exc})") from exc
    except OSError:
        raise
    except Exception as exc:  # nbformat raises assorted errors for JSON that is not a notebook
        raise NotebookError(f"{path}: not a valid notebook ({type(exc).__name__}: {exc})") from exc
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path}: not a valid notebook (no list of cells)")
    code = [c for c in nb.cells if c.get("cell_type") == "code" and c.get("source", "").strip()]
    if code and not any(c.get("outputs") or c.get("execution_count") for c in code):
        warnings.warn(f"{path}: no code cell has been executed; its results will be missing", stacklevel=3)
    return nb


def _read_all(notebooks: Sequence[str | os.PathLike[str]]) -> list[tuple[Path, NotebookNode]]:
    if not notebooks:
        raise ValueError("no notebooks given to export")
    return [(Path(p), _read_notebook(Path(p))) for p in notebooks]


def _first_heading(nb: NotebookNode) -> str | None:
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown":
            continue
        for line in cell.get("source", "").splitlines():
            match = re.match(r"^\s{0,3}#{1,3}\s+(.+?)\s*#*\s*$", line)
            if match:
                return re.sub(r"[*`]", "", match.group(1)).strip()
    return None


def _title(info: ReportInfo, parts: list[tuple[Path, NotebookNode]]) -> str:
    """report.toml's title, else the first notebook's first heading."""
    return info.title or _first_heading(parts[0][1]) or parts[0][0].stem


def _anchor(index: int, path: Path) -> str:
    return f"nb-{index + 1}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-").lower()


def _merge(parts: list[tuple[Path, NotebookNode]], title: str) -> NotebookNode:
    """One notebook holding every cell in order; the first cell of each part carries its section metadata."""
    merged = nbformat.v4.new_notebook()
    merged.metadata = copy.deepcopy(parts[0][1].metadata) if parts else merged.metadata
    merged.metadata["title"] = title
    for index, (path, nb) in enumerate(parts):
        cells = [copy.deepcopy(c) for c in nb.cells] or [nbformat.v4.new_markdown_cell("*(empty notebook)*")]
        section = {"anchor": _anchor(index, path), "file": path.name, "title": _first_heading(nb) or path.stem}
        cells[0].setdefault("metadata", {})["mnistlib_section"] = section
        for position, cell in enumerate(cells):
            cell["id"] = f"nb{index + 1}-{position}"
            cell.setdefault("metadata", {})
            merged.cells.append(cell)
    return merged


def remove_tagged(nb: NotebookNode, *, slides: bool = False) -> NotebookNode:
    """Apply the tags with nbconvert's TagRemovePreprocessor (in place); for slides, `no-slide` too."""
    from nbconvert.preprocessors import TagRemovePreprocessor

    preprocessor = TagRemovePreprocessor(
        remove_cell_tags=REMOVE_CELL_TAGS | ({NO_SLIDE_TAG} if slides else set()),
        remove_input_tags=REMOVE_INPUT_TAGS,
        remove_all_outputs_tags=REMOVE_OUTPUT_TAGS,
        remove_single_output_tags={NO_SLIDE_TAG} if slides else set(),
    )
    preprocessor.preprocess(nb, {})
    # An empty code cell would show an empty "Code" fold: drop it.
    nb.cells = [c for c in nb.cells if c.get("cell_type") != "code" or c.get("source", "").strip() or c.get("outputs")]
    return nb


# ------------------------------------------------------------------------------------------------- report
_REPORT_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style type="text/css">{{ resources.mnistlib.css }}</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
<header class="mnist-header" id="mnist-top">
<h1>{{ resources.mnistlib.title | escape_html }}</h1>
{%- if resources.mnistlib.subtitle %}
<p class="mnist-subtitle">{{ resources.mnistlib.subtitle | escape_html }}</p>
{%- endif %}
<p class="mnist-byline">{{ resources.mnistlib.byline | escape_html }}</p>
<p class="mnist-meta">{{ resources.mnistlib.generated | escape_html }}</p>
<nav class="mnist-toc" aria-label="Contents"><h2>Contents</h2><ul>
{%- for s in resources.mnistlib.sections %}
<li><a href="#{{ s.anchor }}">{{ s.title | escape_html }}</a>
<span class="mnist-file">{{ s.file | escape_html }}</span></li>
{%- endfor %}
</ul></nav>
</header>
{%- endblock body_header -%}
{%- block any_cell scoped -%}
{%- set section = cell.metadata.get('mnistlib_section') -%}
{%- if section -%}
<div class="mnist-section-start" id="{{ section.anchor }}"><span>{{ section.file | escape_html }}</span>
<a href="#mnist-top">&uarr; contents</a></div>
{%- endif -%}
{{ super() }}
{%- endblock any_cell -%}
{%- block input_group scoped -%}
<details class="mnist-code"><summary>Code</summary>
{{ super() }}
</details>
{%- endblock input_group -%}
"""

_REPORT_CSS = """
body.jp-Notebook { max-width: 1120px; margin: 0 auto; padding: 1.5rem 2rem 5rem; box-sizing: border-box; }
.mnist-header { border-bottom: 2px solid #ddd; margin-bottom: 1.5rem; padding-bottom: 0.5rem; }
.mnist-header h1 { font-size: 2rem; margin: 0 0 0.3rem; }
.mnist-subtitle { font-size: 1.2rem; color: #444; margin: 0 0 0.4rem; }
.mnist-byline { margin: 0 0 0.3rem; }
.mnist-meta { color: #666; margin: 0 0 1rem; }
.mnist-toc h2 { font-size: 1.1rem; margin: 0.5rem 0; }
.mnist-toc ul { list-style: none; margin: 0 0 0.5rem 0; padding: 0; line-height: 1.7; }
.mnist-toc .mnist-file, .mnist-section-start span { color: #888; font-family: var(--jp-code-font-family);
  font-size: 0.8em; }
.mnist-section-start { display: flex; justify-content: space-between; border-top: 1px solid #ccc;
  margin: 2.5rem 0 0.5rem; padding-top: 0.4rem; font-size: 0.9rem; }
.mnist-section-start a { color: #888; text-decoration: none; }
details.mnist-code { margin: 0.2rem 0; }
details.mnist-code > summary { cursor: pointer; color: #777; font-size: 0.8rem; user-select: none; width: max-content; }
details.mnist-code[open] > summary { margin-bottom: 0.2rem; }
.jp-RenderedImage img { max-width: 100%; height: auto; }
.jp-RenderedHTMLCommon table { font-size: 0.85rem; }
.jp-OutputArea-output pre { white-space: pre-wrap; }
/* Printed (make pdf): A4, code folded as on screen, no cell, figure or table cut across two pages. */
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body.jp-Notebook { max-width: none; padding: 0; font-size: 11pt; }
  .mnist-section-start a { display: none; }
  .jp-Cell, .jp-OutputArea-child, .jp-RenderedImage, .jp-RenderedHTMLCommon table, figure, pre {
    break-inside: avoid; page-break-inside: avoid; }
  h1, h2, h3, .mnist-section-start { break-after: avoid; page-break-after: avoid; }
  .mnist-section-start { break-before: page; }
  .jp-RenderedImage img { max-height: 240mm; }
}
"""


def _html_exporter(template: str, **traits: Any) -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        raw_template=template,
        theme="light",
        embed_images=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        **traits,
    )


def report_html(notebooks: Sequence[str | os.PathLike[str]], info: ReportInfo | None = None) -> str:
    """The report as one HTML string: who and what on top (`info`, default report.toml), every notebook in order,
    code folded under "Code", nothing fetched."""
    info = info or load_info()
    parts = _read_all(notebooks)
    title = _title(info, parts)
    nb = remove_tagged(_merge(parts, title))
    sections = [c.metadata["mnistlib_section"] for c in nb.cells if "mnistlib_section" in c.metadata]
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    resources = {
        "metadata": {"name": title, "path": str(parts[0][0].resolve().parent)},
        "mnistlib": {
            "title": title,
            "subtitle": info.subtitle,
            "byline": info.byline(),
            "generated": f"Generated {now} from {len(parts)} notebook{'s' * (len(parts) != 1)}",
            "sections": sections,
            "css": _REPORT_CSS,
        },
    }
    html, _ = _html_exporter(_REPORT_TEMPLATE).from_notebook_node(nb, resources=resources)
    return make_self_contained(without_machine_paths(html))


def export_report(
    notebooks: Sequence[str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    info: ReportInfo | None = None,
) -> Path:
    """Merge the executed notebooks, in order, into one self-contained HTML report (code folded under "Code")."""
    return write_verified(report_html(notebooks, info), Path(out_html))


# ------------------------------------------------------------------------------------------------- slides
_SLIDES_TEMPLATE = r"""{%- extends 'base.html.j2' -%}
{%- block header -%}
<!DOCTYPE html>
<html lang="{{ resources.language_code }}">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1.0" />
<title>{{ resources.mnistlib.title | escape_html }}</title>
<style type="text/css">{{ resources.mnistlib.reveal_css }}</style>
{% for css in resources.inlining.css -%}
<style type="text/css">{{ css }}</style>
{% endfor -%}
{{ resources.include_css("static/index.css") }}
{{ resources.include_css("static/theme-light.css") }}
{{ resources.include_css("static/custom_reveal.css") }}
<style type="text/css">{{ resources.mnistlib.theme_css }}</style>
<style type="text/css">{{ resources.mnistlib.css }}</style>
</head>
{%- endblock header -%}
{%- block body_header -%}
<body class="jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<main><div class="reveal"><div class="slides">
{%- endblock body_header -%}
{%- block body_footer -%}
</div></div></main>
<script>{{ resources.mnistlib.reveal_js }}</script>
<script>{{ resources.mnistlib.notes_js }}</script>
<script>
Reveal.initialize({
  hash: true, controls: true, progress: true, slideNumber: 'c/t', transition: 'slide',
  width: 1280, height: 800, margin: 0.02, center: true, keyboard: true,
  plugins: (typeof RevealNotes !== 'undefined') ? [RevealNotes] : []
}).then(() => mnistFit(Reveal.getCurrentSlide()));
// Fill the slide (a projector at 1280x800 or 1024x768): tables take the largest font that fits the slide's
// width and height (no smaller than 14px), figures the largest size that fits beside the slide's other content.
function mnistFit(slide) {
  if (!slide) { return; }
  const limit = Reveal.getConfig().height - 16;
  const fits = () => slide.scrollHeight <= limit &&
    tables.every((t) => t.getBoundingClientRect().width <= slide.getBoundingClientRect().width + 1);
  const tables = Array.from(slide.querySelectorAll('.jp-RenderedHTMLCommon table'));
  const imgs = Array.from(slide.querySelectorAll('.jp-RenderedImage img'));
  imgs.forEach((i) => { i.style.height = '120px'; });  // tables first, with figures at their smallest
  if (tables.length) {
    let done = false;
    for (const wrap of ['nowrap', 'normal']) {
      tables.forEach((t) => { t.style.whiteSpace = wrap; });
      for (let px = 26; px >= 14 && !done; px--) {
        tables.forEach((t) => { t.style.fontSize = px + 'px'; });
        done = fits();
      }
      if (done) { break; }
    }
  }
  if (imgs.length) {
    const width = slide.getBoundingClientRect().width / (Reveal.getScale() || 1);
    let h = limit;
    for (let k = 0; k < 40; k++) {
      imgs.forEach((i) => {
        const aspect = i.naturalWidth ? i.naturalHeight / i.naturalWidth : 0.75;
        i.style.height = Math.floor(Math.min(h, width * aspect)) + 'px';
      });
      if (fits() || h <= 120) { break; }
      h = Math.floor(h * 0.95);
    }
  }
  Reveal.layout();
}
Reveal.on('slidechanged', (e) => mnistFit(e.currentSlide));
Reveal.on('resize', () => mnistFit(Reveal.getCurrentSlide()));
</script>
</body>
{%- endblock body_footer -%}
{%- block footer -%}
</html>
{%- endblock footer -%}
"""

_SLIDES_CSS = """
:root { --jp-ui-font-size1: 22px; --jp-content-font-size1: 22px; --jp-code-font-size: 18px; }
html, body { height: 100%; margin: 0; }
.reveal { font-size: 30px; }
.reveal .slides section img { max-width: 100%; width: auto; height: auto; margin: 0.2em auto; display: block;
  object-fit: contain; }
.reveal .jp-RenderedImage, .reveal .jp-OutputArea-output { width: 100%; max-width: 100%; }
.reveal h1, .reveal h2, .reveal h3, .reveal h4 { text-transform: none; }
.reveal :is(h1, .jp-RenderedHTMLCommon h1) { font-size: 56px; }
.reveal :is(h2, .jp-RenderedHTMLCommon h2) { font-size: 40px; margin-bottom: 0.4em; }
.reveal :is(h3, .jp-RenderedHTMLCommon h3) { font-size: 32px; }
.reveal table { font-size: 20px; margin: 0.3em auto; }
/* JupyterLab sets 12px on every cell: too small projected; the deck's script sizes each table to its slide. */
.reveal .jp-RenderedHTMLCommon :is(td, th, caption) { font-size: inherit; }
.reveal .jp-RenderedHTMLCommon th { white-space: normal; }
.reveal .jp-OutputArea-output pre { font-size: 0.6em; max-height: 520px; overflow: auto; white-space: pre-wrap; }
.reveal .jp-Notebook-cell { padding: 0; }
.reveal .mnist-title-slide, .reveal .mnist-title-slide h1, .reveal .mnist-title-slide p { text-align: center; }
.reveal .mnist-title-slide h1 { font-size: 2.1em; margin-bottom: 0.6em; }
.reveal .mnist-subtitle { font-size: 1.1em; color: #444; }
.reveal .mnist-author { font-size: 0.9em; margin-top: 1.2em; }
.reveal .mnist-course { font-size: 0.8em; color: #555; }
.reveal .mnist-date { font-size: 0.8em; color: #777; margin-top: 1.2em; }
"""


def find_reveal(reveal_dir: str | os.PathLike[str] | None = None) -> Path:
    """The reveal.js 5 inlined into the deck: `reveal_dir`, else $MNISTLIB_REVEAL_DIR, else the copy vendored in
    mnistreport/vendor/reveal.js (no Node needed)."""
    root = Path(reveal_dir or os.environ.get(REVEAL_ENV) or VENDORED_REVEAL)
    script = root / "dist" / "reveal.js"
    if not script.is_file():
        raise FileNotFoundError(f"{root}: no reveal.js here (dist/reveal.js missing); unset ${REVEAL_ENV} to use "
                                f"the copy in mnistreport/vendor/reveal.js")
    with script.open(encoding="utf-8", errors="replace") as handle:
        found = re.search(r"reveal\.js (\d+)\.\d+", handle.read(300))
    if not found or found.group(1) != "5":
        raise RuntimeError(f"{script}: reveal.js {found.group(0) if found else 'of unknown version'} found, "
                           "version 5 expected")
    return root


def _script_safe(code: str) -> str:
    return re.sub(r"</(script)", r"<\\/\1", code, flags=re.IGNORECASE)


def _inline_fonts(theme_css: str, theme_dir: Path) -> str:
    """Replace the theme's @import of its font stylesheet by @font-face rules with the WOFF files inlined."""

    def font_faces(match: re.Match[str]) -> str:
        css_path = (theme_dir / match.group(2)).resolve()
        if not css_path.is_file():
            return "/* font stylesheet not found */"
        out = []
        for block in re.findall(r"@font-face\s*{[^}]*}", css_path.read_text()):
            if "italic" in block:  # browsers slant the regular face well enough; saves ~250 kB per deck
                continue
            woff = re.search(r"""url\(['"]?([^'")?#]+\.woff)['"]?\)""", block)
            if not woff:
                continue
            data = base64.b64encode((css_path.parent / woff.group(1)).read_bytes()).decode("ascii")
            kept = [ln for ln in block.splitlines() if re.match(r"\s*font-(family|weight|style)", ln)]
            out.append(
                "@font-face {\n" + "\n".join(kept) + f"\n  src: url(data:font/woff;base64,{data}) format('woff');\n}}"
            )
        return "\n".join(out)

    return CSS_IMPORT.sub(font_faces, theme_css)


def _reveal_resources(reveal_dir: str | os.PathLike[str] | None, theme: str = "white") -> dict[str, str]:
    root = find_reveal(reveal_dir)
    theme_path = root / "dist" / "theme" / f"{theme}.css"
    notes = root / "plugin" / "notes" / "notes.js"
    return {
        "reveal_css": (root / "dist" / "reveal.css").read_text(encoding="utf-8"),
        "theme_css": _inline_fonts(theme_path.read_text(encoding="utf-8"), theme_path.parent),
        "reveal_js": _script_safe((root / "dist" / "reveal.js").read_text(encoding="utf-8")),
        "notes_js": _script_safe(notes.read_text(encoding="utf-8")) if notes.is_file() else "",
    }


def _slide_type(cell: NotebookNode) -> str:
    """Cells without slideshow metadata are skipped: only cells chosen for the deck become slides."""
    slideshow = cell.get("metadata", {}).get("slideshow") or {}
    value = slideshow.get("slide_type") if isinstance(slideshow, dict) else None
    return value if value in SLIDE_TYPES else "skip"


def _select_slides(nb: NotebookNode) -> list[NotebookNode]:
    """Chosen cells only (tags applied, printed text dropped), the first one of the notebook starting a new slide."""
    nb = remove_tagged(copy.deepcopy(nb), slides=True)
    chosen: list[NotebookNode] = []
    carried = None  # the slide break of a cell left empty, handed on to the next cell
    for cell in nb.cells:
        kind = _slide_type(cell)
        if kind == "skip":
            continue
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
            if not cell.outputs:
                carried = kind if kind in {"slide", "subslide"} else carried
                continue
        if carried and kind in {"-", "fragment"}:
            kind = carried
        carried = None
        cell.metadata["slideshow"] = {**cell.metadata.get("slideshow", {}), "slide_type": kind}
        chosen.append(cell)
    for cell in chosen:
        if _slide_type(cell) != "notes":
            if _slide_type(cell) in {"-", "fragment", "subslide"}:
                cell.metadata["slideshow"]["slide_type"] = "slide"
            break
    return chosen


def _title_cell(title: str, info: ReportInfo) -> NotebookNode:
    esc = html_lib.escape
    parts = [f'<div class="mnist-title-slide">\n<h1>{esc(title)}</h1>']
    if info.subtitle:
        parts.append(f'<p class="mnist-subtitle">{esc(info.subtitle)}</p>')
    who = " · ".join(part for part in (info.author, info.student_id) if part)
    if who:
        parts.append(f'<p class="mnist-author">{esc(who)}</p>')
    if info.course:
        parts.append(f'<p class="mnist-course">{esc(info.course)}</p>')
    parts.append(f'<p class="mnist-date">{esc(info.shown_date())}</p>\n</div>')
    cell = nbformat.v4.new_markdown_cell("\n".join(parts))
    cell.metadata["slideshow"] = {"slide_type": "slide"}
    return cell


def export_slides(
    notebooks: Sequence[str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    info: ReportInfo | None = None,
    reveal_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """One offline reveal.js deck: a title slide (`info`, default report.toml), then the cells chosen via
    metadata.slideshow, outputs only; speaker notes (slide type notes) on the `S` key."""
    from nbconvert import SlidesExporter

    info = info or load_info()
    parts = _read_all(notebooks)
    title = _title(info, parts)
    assets = _reveal_resources(reveal_dir)  # fail early, before rendering, when reveal.js cannot be found
    chosen = [(path, nbformat.v4.new_notebook(cells=_select_slides(nb), metadata=nb.metadata)) for path, nb in parts]
    if not any(nb.cells for _, nb in chosen):
        warnings.warn("no cell has slideshow metadata: the deck only has its title slide", stacklevel=2)
    nb = _merge([(p, n) for p, n in chosen if n.cells] or chosen[:1], title)
    nb.cells = [c for c in nb.cells if _slide_type(c) != "skip"]
    nb.cells.insert(0, _title_cell(title, info))
    resources = {
        "metadata": {"name": title, "path": str(parts[0][0].resolve().parent)},
        "mnistlib": {"title": title, "css": _SLIDES_CSS, **assets},
    }
    exporter = SlidesExporter(
        raw_template=_SLIDES_TEMPLATE,
        anchor_link_text="",  # no pilcrow after every heading on a projected slide
        theme="light",
        embed_images=True,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    return write_verified(make_self_contained(without_machine_paths(html)), Path(out_html))


