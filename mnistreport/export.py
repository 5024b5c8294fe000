"""Turn executed notebooks into one offline HTML report and one offline reveal.js deck (nbconvert does the work).

What reaches a page is decided by cell metadata, the same in every output:

- tags `remove-cell`, `remove-input`, `remove-output` (nbconvert's TagRemovePreprocessor): the cell, its code
  or its outputs are left out of the report, the PDF and the slides;
- `slideshow.slide_type` (JupyterLab's property inspector): only cells marked slide, subslide, fragment, `-`
  or notes reach the deck, outputs only; a notes cell becomes the speaker notes (reveal.js, the `S` key) of the
  slide it follows, and stays in the report as ordinary text;
- tag `no-slide`: the cell stays in the report but never reaches the deck, even when marked as a slide; as an
  output tag (`display(..., metadata={"tags": ["no-slide"]})`) it keeps one output off the deck;
- tag `slide-only`: the cell reaches the deck only (a slide's own heading, a big-numbers cell, notes written for
  the talk), never the report or the PDF;
- tag `appendix` on a slide's first cell: the whole slide moves to the appendix, after the conclusion;
- tag `slide-columns`: on a slide, the cell's outputs (tables) stand side by side while they fit the width;
- tag `takeaway`: the cell's outputs (deck only, like `slide-only`) are gathered, in deck order, on the
  Takeaways slide that closes the main deck;
- notebook metadata `mnistreport.deck_order` (a number; default the notebook's position 1, 2, ...): where the
  notebook's slides come in the deck, so the talk can tell the story in its own order (the report keeps the
  files' order);
- printed text (stdout/stderr, e.g. progress lines) never reaches the deck: a slide shows figures, tables and
  Markdown.

The deck: a title slide (report.toml), the main slides, Takeaways, an Appendix contents slide (each entry a link)
and the appendix slides. Each slide's <section> says which part it is in `data-mnist-part` (title, main,
takeaways, appendix-contents, appendix).
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
    "APPENDIX_TAG",
    "NO_SLIDE_TAG",
    "SLIDE_ONLY_TAG",
    "TAKEAWAY_TAG",
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
SLIDE_ONLY_TAG = "slide-only"
APPENDIX_TAG = "appendix"
TAKEAWAY_TAG = "takeaway"
DECK_ORDER_KEY = "deck_order"  # in the notebook's metadata["mnistreport"]
_HEADING = re.compile(r"^\s{0,3}#{1,3}\s+(.+?)\s*#*\s*$", re.MULTILINE)


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


def _tags(cell: NotebookNode) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def _deck_only(cell: NotebookNode) -> bool:
    return bool({SLIDE_ONLY_TAG, TAKEAWAY_TAG} & set(_tags(cell)))


def _heading_in(text: str) -> str | None:
    match = _HEADING.search(text or "")
    return re.sub(r"[*`]", "", match.group(1)).strip() if match else None


def _first_heading(nb: NotebookNode) -> str | None:
    """The first Markdown heading (#, ## or ###) of the report's cells (deck-only cells do not count)."""
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown" and not _deck_only(cell):
            heading = _heading_in(cell.get("source", ""))
            if heading:
                return heading
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
        section = {"anchor": _anchor(index, path), "file": path.name, "title": _first_heading(nb) or path.stem,
                   "first": index == 0}
        cells[0].setdefault("metadata", {})["mnistlib_section"] = section
        for position, cell in enumerate(cells):
            cell["id"] = f"nb{index + 1}-{position}"
            cell.setdefault("metadata", {})
            merged.cells.append(cell)
    return merged


def remove_tagged(nb: NotebookNode, *, slides: bool = False) -> NotebookNode:
    """Apply the tags with nbconvert's TagRemovePreprocessor (in place): for slides `no-slide` too, for the report
    the deck-only cells (`slide-only`, `takeaway`)."""
    from nbconvert.preprocessors import TagRemovePreprocessor

    preprocessor = TagRemovePreprocessor(
        remove_cell_tags=REMOVE_CELL_TAGS | ({NO_SLIDE_TAG} if slides else {SLIDE_ONLY_TAG, TAKEAWAY_TAG}),
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
<div class="mnist-section-start{{ ' mnist-first' if section.first }}" id="{{ section.anchor }}">
<span>{{ section.file | escape_html }}</span>
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
/* The live demo is interactive: on paper its screenshot stands in for it (see _demo_for_print). */
.mnist-print-only { display: none; }
.mnist-print-only img { max-width: 100%; height: auto; }
.mnist-print-only figcaption { color: #555; font-size: 0.9em; }
/* Printed (make pdf): A4; no code and no "Code" folds; every table whole (it wraps and shrinks to the page's width);
   no cell, figure or table cut across two pages; each notebook after the first from a new page. */
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body.jp-Notebook { max-width: none; padding: 0; font-size: 11pt; }
  .mnist-header { margin-bottom: 0.4rem; padding-bottom: 0.2rem; }
  .mnist-section-start { margin: 0.6rem 0 0.2rem; }
  .mnist-section-start a, details.mnist-code, .jp-CodeCell.jp-mod-noOutputs { display: none; }
  .mnist-print-only { display: block; }
  .mnist-demo { display: none !important; }
  .jp-OutputArea-output { overflow: visible; }
  .jp-RenderedHTMLCommon table { table-layout: auto; width: auto; max-width: 100%; font-size: 8pt;
    margin: 0 0 0.6em; }
  .jp-RenderedHTMLCommon :is(th, td) { white-space: normal; overflow-wrap: break-word; padding: 1.5pt 3pt; }
  .jp-Cell, .jp-OutputArea-child, .jp-RenderedImage, .jp-RenderedHTMLCommon table, figure, pre {
    break-inside: avoid; page-break-inside: avoid; }
  h1, h2, h3, .mnist-section-start { break-after: avoid; page-break-after: avoid; }
  .mnist-section-start:not(.mnist-first) { break-before: page; }
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
    html = _demo_for_print(_model_colours(html), parts[0][0].resolve().parent)
    return make_self_contained(without_machine_paths(html))


_TABLE_CELL = re.compile(r"<(td|th)>([^<]*)</\1>")


def _model_colours(html: str) -> str:
    """A table cell that names one model (LeNet-5 or CustomMLP) starts with a square in that model's colour, the
    colour of every figure and of the demo (mnistlib.plots.MODEL_COLORS); the text stays black, to be read."""
    from mnistlib.plots import MODEL_COLORS

    def colour(match: re.Match[str]) -> str:
        named = [model for model in MODEL_COLORS if model in match.group(2)]
        if len(named) != 1:
            return match.group(0)
        tag, text = match.groups()
        swatch = f'<span class="mnist-swatch" style="color: {MODEL_COLORS[named[0]]}">&#9632;</span> '
        return f"<{tag}>{swatch}{text}</{tag}>"

    return _TABLE_CELL.sub(colour, html)


DEMO_SCREENSHOT = Path("figures") / "demo.png"  # beside the notebooks' folder: figures/ or build/sample/figures/


def _demo_for_print(html: str, notebooks_dir: Path) -> str:
    """Before each live demo, a print-only stand-in: the demo's screenshot (`python -m mnistreport.demo --png`) from
    the figures folder beside the notebooks', else a line saying where the demo runs. On screen only the demo
    shows, on paper only the stand-in (_REPORT_CSS)."""
    if 'class="mnist-demo"' not in html:
        return html
    shot = notebooks_dir.parent / DEMO_SCREENSHOT
    where = "The live demo runs in the HTML report and in the slide deck"
    if shot.is_file():
        data = base64.b64encode(shot.read_bytes()).decode("ascii")
        stand_in = (f'<figure class="mnist-print-only"><img alt="Screenshot of the live demo" '
                    f'src="data:image/png;base64,{data}"><figcaption>Screenshot of the live demo '
                    f"({DEMO_SCREENSHOT.as_posix()}). {where}.</figcaption></figure>")
    else:
        stand_in = f'<p class="mnist-print-only"><em>{where}; it cannot be printed.</em></p>'
    return html.replace('<div class="mnist-demo"', stand_in + '<div class="mnist-demo"')


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
  width: 1280, height: 800, margin: 0.02, center: false, keyboard: true,
  plugins: (typeof RevealNotes !== 'undefined') ? [RevealNotes] : []
}).then(() => mnistFit(Reveal.getCurrentSlide()));
// Fill the slide (a projector at 1280x800 or 1024x768): tables take the largest font that fits the slide's width
// and height, from 34 down to 24 slide pixels (18 px on a 1024x768 screen; they wrap before going smaller), then
// figures the largest size that fits beside the slide's other content: the slide's width, or what height is left.
const MNIST_TABLE_PX = [34, 24];
function mnistFit(slide) {
  if (!slide) { return; }
  const limit = Reveal.getConfig().height;
  const tables = Array.from(slide.querySelectorAll('.jp-RenderedHTMLCommon table'));
  const imgs = Array.from(slide.querySelectorAll('.jp-RenderedImage img'));
  const style = getComputedStyle(slide);
  const inner = slide.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const fits = () => slide.scrollHeight <= limit && tables.every((t) => t.scrollWidth <= inner);
  imgs.forEach((i) => { i.style.height = '80px'; });  // tables first, with figures at their smallest
  if (tables.length) {
    const apply = (wrap, px) => tables.forEach((t) => { t.style.whiteSpace = wrap; t.style.fontSize = px + 'px'; });
    let best = null;  // nothing fits: the smallest overflow at the smallest size, never a smaller font
    search: for (const wrap of ['nowrap', 'normal']) {
      for (let px = MNIST_TABLE_PX[0]; px >= MNIST_TABLE_PX[1]; px--) {
        apply(wrap, px);
        if (fits()) { best = null; break search; }
        const over = slide.scrollHeight + Math.max(0, ...tables.map((t) => t.scrollWidth - inner));
        if (!best || over < best.over) { best = {wrap: wrap, px: px, over: over}; }
      }
    }
    if (best) { apply(best.wrap, best.px); }
  }
  if (imgs.length) {
    const width = inner - 8;
    const size = (h) => imgs.forEach((i) => {
      const aspect = i.naturalWidth ? i.naturalHeight / i.naturalWidth : 0.75;
      i.style.height = Math.floor(Math.min(h, width * aspect)) + 'px';
    });
    let low = 80, high = limit;
    for (let k = 0; k < 12; k++) {
      const mid = (low + high) / 2;
      size(mid);
      if (fits()) { low = mid; } else { high = mid; }
    }
    size(low);
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
/* Slide pixels: the deck is 1280x800 and reveal.js scales it to the screen (x0.78 on a 1024x768 projector), so
   text is at least 24 slide pixels (18 px there), headings larger. */
:root { --jp-ui-font-size1: 28px; --jp-content-font-size1: 28px; --jp-code-font-size: 24px;
  --jp-content-line-height: 1.3; }
html, body { height: 100%; margin: 0; }
.reveal { font-size: 28px; }
.reveal .jp-RenderedHTMLCommon, .reveal .jp-OutputArea-output { font-family: "Source Sans Pro", Helvetica, sans-serif; }
.reveal .slides section { box-sizing: border-box; padding: 14px 40px 0; text-align: left; }
.reveal .slides section img { max-width: 100%; width: auto; height: auto; margin: 0.1em auto; display: block;
  object-fit: contain; }
.reveal .jp-RenderedImage, .reveal .jp-OutputArea-output { width: 100%; max-width: 100%; }
.reveal .jp-OutputArea-output { overflow: visible; }
.reveal .jp-RenderedHTMLCommon { padding-right: 0; }
.reveal h1, .reveal h2, .reveal h3, .reveal h4 { text-transform: none; text-align: left; color: #222; }
.reveal :is(h1, .jp-RenderedHTMLCommon h1) { font-size: 56px; }
.reveal :is(h2, .jp-RenderedHTMLCommon h2) { font-size: 44px; margin: 0 0 0.35em; }
.reveal :is(h3, .jp-RenderedHTMLCommon h3) { font-size: 34px; }
.reveal .jp-RenderedHTMLCommon :is(p, li) { font-size: 28px; line-height: 1.3; }
.reveal .jp-RenderedHTMLCommon :is(ul, ol) { margin: 0.2em 0 0.2em 1.2em; }
.reveal .jp-RenderedHTMLCommon li { margin: 0.15em 0; }
/* A main slide of text only (the question, the takeaways) in larger type. */
.reveal section:is([data-mnist-part="main"], [data-mnist-part="takeaways"]):not(:has(img, table,
  .mnist-demo, .mnist-big)) .jp-RenderedHTMLCommon :is(p, li) { font-size: 34px; }
.reveal table { font-size: 30px; margin: 0.3em auto; }
.reveal .jp-RenderedHTMLCommon table { table-layout: auto; }
/* JupyterLab sets its own size on every cell: the deck's script sizes each table to its slide (24 px at least). */
.reveal .jp-RenderedHTMLCommon :is(td, th, caption) { font-size: inherit; padding: 0.18em 0.32em; }
.reveal .jp-RenderedHTMLCommon td { white-space: inherit; }  /* the table's: the deck's script sets it */
.reveal .jp-RenderedHTMLCommon th { white-space: normal; }
.reveal .jp-OutputArea-output pre { font-size: 24px; max-height: 520px; overflow: auto; white-space: pre-wrap; }
.reveal .jp-Notebook-cell, .reveal .jp-Cell { padding: 0; }
.reveal .jp-OutputArea-child { margin: 0; }
.reveal .celltag_slide-columns .jp-OutputArea { display: flex; flex-wrap: wrap; justify-content: center;
  gap: 0 16px; }
.reveal .celltag_slide-columns :is(.jp-OutputArea-child, .jp-OutputArea-output) { width: auto; flex: 0 1 auto; }
.reveal .slides .mnist-demo { margin: 0 auto; }
.reveal .mnist-title-slide { margin-top: 150px; }
.reveal .mnist-title-slide, .reveal .mnist-title-slide h1, .reveal .mnist-title-slide p { text-align: center; }
.reveal .mnist-title-slide h1 { font-size: 60px; margin-bottom: 0.5em; }
.reveal .mnist-subtitle { font-size: 32px; color: #444; }
.reveal .mnist-author { font-size: 30px; margin-top: 1.4em; }
.reveal .mnist-course { font-size: 28px; color: #555; }
.reveal .mnist-date { font-size: 28px; color: #666; margin-top: 1em; }
/* A big-numbers slide: numbers the audience reads from the back of the room, each with what it is. */
.reveal .mnist-big { display: flex; justify-content: center; gap: 140px; margin: 90px 0 48px; text-align: center; }
.reveal .mnist-big-number { font-size: 140px; font-weight: 700; line-height: 1.05; }
.reveal .mnist-big-label { font-size: 40px; font-weight: 600; }
.reveal .mnist-big-line { font-size: 40px; text-align: center; margin: 16px 0 28px; }
.reveal .mnist-small { font-size: 26px; color: #444; text-align: center; }
.reveal .mnist-appendix-list ol { columns: 2; column-gap: 48px; font-size: 26px; }
.reveal .mnist-appendix-list :is(li, p) { font-size: 26px; }
.reveal .mnist-appendix-list a { color: #1f4e8c; }
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


def _set_type(cell: NotebookNode, kind: str) -> NotebookNode:
    cell.metadata["slideshow"] = {**(cell.metadata.get("slideshow") or {}), "slide_type": kind}
    return cell


def _mark(cell: NotebookNode, part: str) -> NotebookNode:
    """The slide this cell starts says which part of the deck it is in: <section data-mnist-part="...">."""
    cell.metadata.setdefault("slideshow", {})["data"] = {"mnist_part": part}
    return cell


def _slide_groups(cells: list[NotebookNode]) -> list[list[NotebookNode]]:
    """Cells cut into slides: each slide from a cell of type slide to the next; notes that come before a
    notebook's first slide go with that slide."""
    groups: list[list[NotebookNode]] = []
    leading: list[NotebookNode] = []
    for cell in cells:
        if not groups and _slide_type(cell) == "notes":
            leading.append(cell)
        elif not groups or _slide_type(cell) == "slide":
            groups.append([cell])
        else:
            groups[-1].append(cell)
    if groups:
        if _slide_type(groups[0][0]) != "slide":
            _set_type(groups[0][0], "slide")
        groups[0][1:1] = leading
    return groups


def _deck_order(position: int, nb: NotebookNode) -> float:
    value = (nb.metadata.get("mnistreport") or {}).get(DECK_ORDER_KEY, position + 1)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotebookError(f"metadata mnistreport.{DECK_ORDER_KEY} must be a number, got {value!r}")
    return float(value)


def _deck_parts(parts: list[tuple[Path, NotebookNode]]
                ) -> tuple[list[list[NotebookNode]], list[NotebookNode], list[list[NotebookNode]]]:
    """The chosen cells of every notebook in deck order: main slides, takeaway cells, appendix slides."""
    order = sorted(range(len(parts)), key=lambda i: (_deck_order(i, parts[i][1]), i))
    main: list[list[NotebookNode]] = []
    takeaways: list[NotebookNode] = []
    appendix: list[list[NotebookNode]] = []
    for index in order:
        chosen = _select_slides(parts[index][1])
        takeaways += [c for c in chosen if TAKEAWAY_TAG in _tags(c)]
        for group in _slide_groups([c for c in chosen if TAKEAWAY_TAG not in _tags(c)]):
            in_appendix = APPENDIX_TAG in _tags(group[0])
            _mark(group[0], "appendix" if in_appendix else "main")
            (appendix if in_appendix else main).append(group)
    return main, takeaways, appendix


def _slide_title(group: list[NotebookNode]) -> str:
    """A slide's first heading, in a Markdown cell or a Markdown output."""
    for cell in group:
        texts = [cell.get("source", "")] if cell.get("cell_type") == "markdown" else [
            o.get("data", {}).get("text/markdown", "") for o in cell.get("outputs", [])]
        for text in texts:
            heading = _heading_in(text)
            if heading:
                return heading
    return "(untitled slide)"


def _takeaways_slide(cells: list[NotebookNode]) -> list[NotebookNode]:
    """The conclusion: a heading, then every takeaway cell's outputs in deck order (notes stay notes)."""
    head = _mark(_set_type(nbformat.v4.new_markdown_cell("## Takeaways"), "slide"), "takeaways")
    return [head] + [_set_type(c, "-") if _slide_type(c) in {"slide", "subslide"} else c for c in cells]


def _appendix_contents(titles: list[str], first: int) -> NotebookNode:
    """The slide after the conclusion: one link per appendix slide (reveal.js follows #/<slide index>)."""
    items = "".join(f'<li><a href="#/{first + k}">{html_lib.escape(t)}</a></li>' for k, t in enumerate(titles))
    cell = nbformat.v4.new_markdown_cell(
        f'## Appendix\n\n<div class="mnist-appendix-list"><p>Details for questions:</p><ol>{items}</ol></div>')
    return _mark(_set_type(cell, "slide"), "appendix-contents")


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


def _title_notes(title: str, info: ReportInfo, slides: int) -> NotebookNode:
    """Speaker notes for the title slide: the opening, in numbers the deck has (its slides after the title)."""
    who = ", ".join(part for part in (info.author, info.course) if part)
    cell = nbformat.v4.new_markdown_cell(
        f"Introduce yourself{f' ({who})' if who else ''} and the question: {title}. {slides} slides follow to the "
        "takeaways, about a minute each; after them an appendix holds the details for questions (its contents slide "
        "links each one; Esc shows every slide).")
    cell.metadata["slideshow"] = {"slide_type": "notes"}
    return cell


def export_slides(
    notebooks: Sequence[str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    info: ReportInfo | None = None,
    reveal_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """One offline reveal.js deck: a title slide (`info`, default report.toml), the main slides chosen via
    metadata.slideshow (outputs only, speaker notes on the `S` key), Takeaways, then the appendix (module docstring)."""
    from nbconvert import SlidesExporter

    info = info or load_info()
    parts = _read_all(notebooks)
    title = _title(info, parts)
    assets = _reveal_resources(reveal_dir)  # fail early, before rendering, when reveal.js cannot be found
    main, takeaways, appendix = _deck_parts(parts)
    if not (main or takeaways or appendix):
        warnings.warn("no cell has slideshow metadata: the deck only has its title slide", stacklevel=2)
    cells = [_mark(_title_cell(title, info), "title"), _title_notes(title, info, len(main) + bool(takeaways))]
    cells += [cell for group in main for cell in group]
    if takeaways:
        cells += _takeaways_slide(takeaways)
    if appendix:
        first = 1 + len(main) + bool(takeaways) + 1  # title, main slides, takeaways, this contents slide
        cells.append(_appendix_contents([_slide_title(group) for group in appendix], first))
        cells += [cell for group in appendix for cell in group]
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(parts[0][1].metadata))
    nb.metadata["title"] = title
    for position, cell in enumerate(nb.cells):
        cell["id"] = f"deck-{position}"
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
    return write_verified(make_self_contained(without_machine_paths(_model_colours(html))), Path(out_html))
