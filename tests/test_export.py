"""Offline report and slide deck: built from small real notebooks (real PNG, real DataFrame HTML), no kernel."""

from __future__ import annotations

import base64
import io
import re
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mnistreport import __main__ as cli
from mnistreport import export, offline
from mnistreport.export import NotebookError, export_report, export_slides
from mnistreport.info import ReportInfo
from mnistreport.offline import find_external_references

TITLE = "LeNet-5 vs a custom MLP on MNIST"
INFO = ReportInfo(title=TITLE, subtitle="Class presentation", date="1 December 2025")
# Tags that would make a browser fetch a URL when the page opens (prose links <a href> are fine).
EXTERNAL_TAG = re.compile(r"<(script|link|img)\b[^>]*\s(src|href)\s*=\s*['\"]?\s*(https?:)?//", re.IGNORECASE)


def figure_png() -> str:
    """A real matplotlib PNG, base64 as Jupyter stores it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3), dpi=60)
    ax.plot([0, 1, 2, 3], [0.90, 0.95, 0.97, 0.98], marker="o")
    ax.set_title("validation accuracy")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _on_slide(cell: nbformat.NotebookNode, slide_type: str) -> nbformat.NotebookNode:
    cell.metadata["slideshow"] = {"slide_type": slide_type}
    return cell


def make_notebooks(folder: Path, png: str) -> list[Path]:
    """Two executed-looking notebooks; cells marked CHOSEN-* have slideshow metadata, SKIPPED-* do not."""
    import pandas as pd

    table = pd.DataFrame({"model": ["LeNet-5", "CustomMLP"], "test accuracy": [0.991, 0.982]})
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(["01_data", "02_compare"], start=1):
        nb = new_notebook()
        nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
        nb.cells = [
            _on_slide(
                new_markdown_cell(f"# Part {index}: CHOSEN-HEADING-{index}\n\nLoss $\\alpha x^2$ in prose."), "slide"
            ),
            new_markdown_cell(f"SKIPPED-PROSE-{index} and a [prose link](https://example.org/paper)."),
            _on_slide(
                new_code_cell(
                    "plt.plot(acc)  # CODE-INPUT",
                    execution_count=1,
                    outputs=[new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})],
                ),
                "slide",
            ),
            _on_slide(
                new_code_cell(
                    "table",
                    execution_count=2,
                    outputs=[
                        new_output(
                            "execute_result",
                            execution_count=2,
                            data={"text/html": table.to_html(), "text/plain": table.to_string()},
                        )
                    ],
                ),
                "fragment",
            ),
            new_code_cell(
                "print('x')",
                execution_count=3,
                outputs=[new_output("stream", name="stdout", text=f"SKIPPED-OUTPUT-{index}\n")],
            ),
            _on_slide(
                new_code_cell(
                    "display(Markdown(summary))",
                    execution_count=4,
                    outputs=[
                        new_output(
                            "display_data",
                            data={"text/markdown": f"CHOSEN-MARKDOWN-{index}: **bold**", "text/plain": "<Markdown>"},
                        )
                    ],
                ),
                "subslide",
            ),
        ]
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def png() -> str:
    return figure_png()


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory, png: str) -> list[Path]:
    return make_notebooks(tmp_path_factory.mktemp("notebooks"), png)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, notebooks: list[Path]) -> Path:
    return export_report(notebooks, tmp_path_factory.mktemp("report") / "report.html", INFO)


@pytest.fixture(scope="module")
def reveal_dir() -> Path:
    try:
        return export.find_reveal()
    except FileNotFoundError as exc:
        pytest.skip(f"reveal.js not installed: {exc}")


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory, notebooks: list[Path], reveal_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("slides") / "slides.html"
    return export_slides(notebooks, out, INFO)


def assert_offline(html: str) -> None:
    assert not EXTERNAL_TAG.findall(html), EXTERNAL_TAG.findall(html)[:3]
    assert find_external_references(html, include_local=True) == []


# ------------------------------------------------------------------------------------------------- report
def test_report_is_one_self_contained_file(report: Path, png: str) -> None:
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.html"]  # no *_files folder, no *.tmp
    html = report.read_text(encoding="utf-8")
    assert f"data:image/png;base64,{png[:200]}" in html
    assert len(re.findall(r'<img\b[^>]*\ssrc="data:image/png;base64,', html)) == 2
    assert "CustomMLP" in html and "<table" in html  # DataFrame HTML
    assert "CHOSEN-MARKDOWN-1: <strong>bold</strong>" in html  # Markdown displayed from a code cell
    assert_offline(html)
    assert "mathjax" not in html.lower() and "require.min.js" not in html
    assert "$\\alpha x^2$" in html  # LaTeX stays readable text


def test_report_keeps_order_toc_and_folded_code(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    body = html.index('id="nb-1-01_data"')  # after the table of contents
    order = [html.index(marker, body) for marker in ("CHOSEN-HEADING-1", "SKIPPED-PROSE-1", "CHOSEN-HEADING-2")]
    assert order == sorted(order)
    assert 'href="#nb-1-01_data"' in html and 'id="nb-1-01_data"' in html
    assert 'id="nb-2-02_compare"' in html
    assert '<details class="mnist-code">' in html and "CODE-INPUT" in html
    assert "SKIPPED-PROSE-1" in html and "SKIPPED-OUTPUT-2" in html  # the report has everything
    assert 'href="https://example.org/paper"' in html  # prose links stay links
    assert f"<title>{TITLE}</title>" in html


# ------------------------------------------------------------------------------------------------- slides
def test_slides_hold_only_chosen_cells_without_code(slides: Path, png: str) -> None:
    html = slides.read_text(encoding="utf-8")
    for index in (1, 2):
        assert f"CHOSEN-HEADING-{index}" in html
        assert f"CHOSEN-MARKDOWN-{index}" in html
        assert f"SKIPPED-PROSE-{index}" not in html
        assert f"SKIPPED-OUTPUT-{index}" not in html
    assert "CODE-INPUT" not in html and '<div class="jp-CodeMirrorEditor' not in html
    assert f"data:image/png;base64,{png[:200]}" in html
    assert "CustomMLP" in html and 'class="fragment"' in html
    assert "function mnistFit(slide)" in html and "height: 800" in html  # figures and tables sized to the slide


def test_slides_title_slide_comes_first(slides: Path) -> None:
    html = slides.read_text(encoding="utf-8")
    first = html.index("<section")
    title = html.index('class="mnist-title-slide"')
    assert first < title < html.index("CHOSEN-HEADING-1")
    assert "Class presentation" in html and "1 December 2025" in html
    assert html.count("<section") >= 1 + 2 * 3  # title + per notebook: heading, figure stack, subslide


def test_slides_inline_reveal_and_load_nothing(slides: Path, reveal_dir: Path) -> None:
    html = slides.read_text(encoding="utf-8")
    assert_offline(html)
    assert not re.search(r"<script[^>]*\bsrc=", html) and not re.search(r"<link[^>]*\bhref=", html)
    assert "Reveal.initialize" in html and "hash: true" in html
    reveal_js = (reveal_dir / "dist" / "reveal.js").read_text(encoding="utf-8")
    assert reveal_js[200:400] in html  # the library itself, not a link to it
    assert "data:font/woff;base64," in html  # theme fonts inlined, not fetched


def test_slides_do_not_touch_the_notebooks(notebooks: list[Path], reveal_dir: Path, tmp_path: Path) -> None:
    before = [p.read_bytes() for p in notebooks]
    export_slides(notebooks, tmp_path / "slides.html", INFO)
    assert [p.read_bytes() for p in notebooks] == before


def test_first_chosen_cell_of_each_notebook_starts_a_slide() -> None:
    nb = new_notebook(cells=[new_markdown_cell("no metadata"), _on_slide(new_markdown_cell("a"), "fragment")])
    nb.cells.append(_on_slide(new_markdown_cell("b"), "-"))
    chosen = export._select_slides(nb)
    assert [c.source for c in chosen] == ["a", "b"]
    assert [c.metadata.slideshow.slide_type for c in chosen] == ["slide", "-"]
    assert nb.cells[1].metadata.slideshow.slide_type == "fragment"  # a copy was changed, not the notebook


def test_slides_without_chosen_cells_warn_and_keep_title(tmp_path: Path, reveal_dir: Path) -> None:
    path = tmp_path / "plain.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("PLAIN-CELL")]), path)
    with pytest.warns(UserWarning, match="slideshow metadata"):
        out = export_slides([path], tmp_path / "deck.html", ReportInfo(title="Only a title"))
    html = out.read_text(encoding="utf-8")
    assert "Only a title" in html and "PLAIN-CELL" not in html


def test_slides_need_reveal(notebooks: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "slides.html"
    with pytest.raises(FileNotFoundError, match="no-reveal: no reveal.js here"):
        export_slides(notebooks, out, INFO, reveal_dir=tmp_path / "no-reveal")
    assert not out.exists()


# ------------------------------------------------------------------------ what reaches a page (cell tags)
def _tagged(cell: nbformat.NotebookNode, *tags: str) -> nbformat.NotebookNode:
    cell.metadata["tags"] = list(tags)
    return cell


def _markdown_output(text: str, **metadata) -> nbformat.NotebookNode:
    return new_output("display_data", data={"text/markdown": text, "text/plain": text}, metadata=metadata)


@pytest.fixture(scope="module")
def tagged_notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cells carrying nbconvert's remove-* tags, the no-slide tag and a progress printout, all marked as slides."""
    progress = new_output("stream", name="stdout", text="[1/6] lenet5 seed 0: PROGRESS-LINE (stored)\n")
    cells = [
        _on_slide(new_markdown_cell("# KEPT-HEADING"), "slide"),
        _on_slide(_tagged(new_markdown_cell("REMOVED-CELL"), "remove-cell"), "slide"),
        _on_slide(_tagged(new_code_cell("HIDDEN_INPUT = 1", execution_count=1,
                                        outputs=[_markdown_output("SHOWN-OUTPUT")]), "remove-input"), "slide"),
        _on_slide(_tagged(new_code_cell("SHOWN_INPUT = 2", execution_count=2,
                                        outputs=[_markdown_output("HIDDEN-OUTPUT")]), "remove-output"), "-"),
        _on_slide(_tagged(new_code_cell("setup()", execution_count=3,
                                        outputs=[_markdown_output("**Data:** NO-SLIDE-BANNER")]), "no-slide"), "slide"),
        _on_slide(new_code_cell("sweep()", execution_count=4, outputs=[progress]), "slide"),
        _on_slide(new_code_cell("table()", execution_count=5, outputs=[
            _markdown_output("OUTPUT-TAGGED-NO-SLIDE", tags=["no-slide"]), _markdown_output("AFTER-PROGRESS")]), "-"),
    ]
    path = tmp_path_factory.mktemp("tagged") / "03_tagged.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_report_applies_nbconverts_remove_tags(tagged_notebook: Path, tmp_path: Path) -> None:
    html = export_report([tagged_notebook], tmp_path / "report.html", INFO).read_text(encoding="utf-8")
    assert "KEPT-HEADING" in html and "REMOVED-CELL" not in html
    assert "SHOWN-OUTPUT" in html and "HIDDEN_INPUT" not in html
    assert "SHOWN_INPUT" in html and "HIDDEN-OUTPUT" not in html
    # no-slide and printed text belong to the report: only the deck leaves them out
    assert "NO-SLIDE-BANNER" in html and "PROGRESS-LINE" in html and "OUTPUT-TAGGED-NO-SLIDE" in html


def test_slides_leave_out_no_slide_cells_and_printed_text(tagged_notebook: Path, tmp_path: Path,
                                                         reveal_dir: Path) -> None:
    html = export_slides([tagged_notebook], tmp_path / "slides.html", INFO).read_text(encoding="utf-8")
    assert "KEPT-HEADING" in html and "SHOWN-OUTPUT" in html and "AFTER-PROGRESS" in html
    for absent in ("REMOVED-CELL", "HIDDEN-OUTPUT", "NO-SLIDE-BANNER", "PROGRESS-LINE", "OUTPUT-TAGGED-NO-SLIDE"):
        assert absent not in html, absent


def test_a_slide_emptied_by_the_rules_hands_its_break_on() -> None:
    progress = new_output("stream", name="stdout", text="[1/2] ...\n")
    nb = new_notebook(cells=[
        _on_slide(new_markdown_cell("first"), "slide"),
        _on_slide(new_code_cell("sweep()", execution_count=1, outputs=[progress]), "slide"),
        _on_slide(new_code_cell("plot()", execution_count=2, outputs=[_markdown_output("figure")]), "-"),
    ])
    chosen = export._select_slides(nb)
    assert [c.cell_type for c in chosen] == ["markdown", "code"]
    assert chosen[1].metadata.slideshow.slide_type == "slide"  # not appended to the first slide


def test_inline_script_outputs_are_kept(tmp_path: Path, reveal_dir: Path) -> None:
    """A widget-like output (HTML with its own inline <script>) reaches report and deck as it is."""
    script = '<div id="demo-box"></div><script>document.getElementById("demo-box").textContent = "DEMO-RAN";</script>'
    cell = new_code_cell("demo()", execution_count=1, outputs=[
        new_output("display_data", data={"text/html": script, "text/plain": "<Demo>"})])
    path = tmp_path / "07_demo.ipynb"
    nbformat.write(new_notebook(cells=[_on_slide(cell, "slide")]), path)
    for out in (export_report([path], tmp_path / "r.html", INFO), export_slides([path], tmp_path / "s.html", INFO)):
        html = out.read_text(encoding="utf-8")
        assert 'document.getElementById("demo-box").textContent = "DEMO-RAN";' in html, out.name


def test_pages_carry_no_machine_path(tmp_path: Path) -> None:
    from mnistlib import paths

    inside = paths.ROOT / "data" / "MNIST" / "raw"
    cell = new_code_cell("setup()", execution_count=1, outputs=[_markdown_output(f"**Data:** IDX files in {inside}")])
    path = tmp_path / "01_paths.ipynb"
    nbformat.write(new_notebook(cells=[cell]), path)
    html = export_report([path], tmp_path / "report.html").read_text(encoding="utf-8")
    assert str(paths.ROOT) not in html and "IDX files in data/MNIST/raw" in html


def test_committed_notebooks_open_on_the_mnistlib_kernel() -> None:
    from mnistreport.build import KERNEL, notebook_paths

    for notebook in notebook_paths():
        spec = nbformat.read(notebook, as_version=4).metadata.get("kernelspec", {})
        assert spec.get("name") == KERNEL == "mnistlib", notebook.name


# ----------------------------------------------------------------------------------- errors and atomicity
def test_missing_notebook_is_named_and_nothing_written(notebooks: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    missing = tmp_path / "03_missing.ipynb"
    with pytest.raises(FileNotFoundError, match="03_missing.ipynb"):
        export_report([notebooks[0], missing], out)
    assert list(tmp_path.iterdir()) == []


def test_invalid_json_notebook_is_named(notebooks: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "04_broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(NotebookError, match=r"04_broken\.ipynb.*not valid JSON"):
        export_report([notebooks[0], broken], tmp_path / "report.html")
    not_a_notebook = tmp_path / "05_list.ipynb"
    not_a_notebook.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(NotebookError, match="05_list.ipynb"):
        export_report([not_a_notebook], tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_failed_verification_leaves_no_file(
    notebooks: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    out.write_text("previous report", encoding="utf-8")
    monkeypatch.setattr(offline, "find_external_references", lambda html, include_local=False: ["<script src> x"])
    with pytest.raises(RuntimeError, match="external resources"):
        export_report(notebooks, out)
    assert out.read_text(encoding="utf-8") == "previous report"  # the old file survives a failed export
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # and no *.tmp is left behind


def test_unexecuted_notebook_warns(tmp_path: Path) -> None:
    path = tmp_path / "raw.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")]), path)
    with pytest.warns(UserWarning, match="no code cell has been executed"):
        export_report([path], tmp_path / "report.html")


# -------------------------------------------------------------------------------------- external content
def test_remote_image_in_markdown_is_removed_with_a_warning(tmp_path: Path, png: str) -> None:
    path = tmp_path / "remote.ipynb"
    cells = [new_markdown_cell("![logo](https://example.org/logo.png) see [the paper](https://example.org/p)")]
    cells.append(new_code_cell("x", execution_count=1, outputs=[new_output("display_data", data={"image/png": png})]))
    nbformat.write(new_notebook(cells=cells), path)
    with pytest.warns(UserWarning, match="removed 1 external reference"):
        out = export_report([path], tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    assert_offline(html)
    assert 'data-offline-removed-src="https://example.org/logo.png"' in html
    assert 'href="https://example.org/p"' in html


def test_local_image_in_markdown_is_embedded(tmp_path: Path, png: str) -> None:
    (tmp_path / "figure.png").write_bytes(base64.b64decode(png))
    path = tmp_path / "local.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("![a figure](figure.png)")]), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = export_report([path], tmp_path / "out" / "report.html")
    assert "data:image/png;base64," in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("snippet", "found"),
    [
        ('<script src="https://cdn.example.org/require.js"></script>', True),
        ('<link rel="stylesheet" href="http://cdn.example.org/x.css">', True),
        ('<img src="//cdn.example.org/x.png">', True),
        ("<style>@import url(https://fonts.example.org/css);</style>", True),
        ("<div style=\"background: url('https://example.org/bg.png')\"></div>", True),
        ('<img srcset="a.png 1x, https://example.org/b.png 2x">', True),
        ('<a href="https://example.org/paper">paper</a> https://example.org in text', False),
        ('<img src="data:image/png;base64,AAAA"><script>var u = "https://x.org";</script>', False),
        ('<a href="#nb-1">x</a><style>.a { background: url(data:image/svg+xml;base64,AA) }</style>', False),
    ],
)
def test_find_external_references(snippet: str, found: bool) -> None:
    assert bool(find_external_references(snippet)) is found


def test_local_files_count_only_when_asked() -> None:
    snippet = '<img src="figures/acc.png">'
    assert find_external_references(snippet) == []
    assert find_external_references(snippet, include_local=True) == ["<img src> figures/acc.png"]


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_report_and_errors(notebooks: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "report.html"
    nb_args = [str(p) for p in notebooks]
    info = tmp_path / "report.toml"
    info.write_text('title = "CLI-TITLE"\n', encoding="utf-8")
    assert cli.main(["report", "--notebooks", *nb_args, "--out", str(out), "--info", str(info)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert "<h1>CLI-TITLE</h1>" in out.read_text(encoding="utf-8")
    assert cli.main(["report", "--notebooks", str(tmp_path / "nope.ipynb"), "--out", str(out)]) == 2
    assert "nope.ipynb" in capsys.readouterr().err
    info.write_text('title = "unclosed\n', encoding="utf-8")
    assert cli.main(["report", "--notebooks", *nb_args, "--out", str(out), "--info", str(info)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {info}: not valid TOML") and err.count("\n") == 1


def test_cli_slides(notebooks: list[Path], tmp_path: Path, reveal_dir: Path) -> None:
    out = tmp_path / "slides.html"
    info = tmp_path / "report.toml"
    info.write_text('subtitle = "Sub-from-toml"\ndate = 2025-12-01\n', encoding="utf-8")
    args = ["slides", "--notebooks", *map(str, notebooks), "--out", str(out), "--info", str(info)]
    assert cli.main(args) == 0
    html = out.read_text(encoding="utf-8")
    assert "Sub-from-toml" in html and "1 December 2025" in html


def test_the_tag_pattern_of_these_tests_catches_cdn_links() -> None:
    assert EXTERNAL_TAG.search('<script type="text/javascript" src="https://cdn.example.org/require.js">')
    assert EXTERNAL_TAG.search("<link rel=stylesheet href=//cdn.example.org/x.css>")
    assert not EXTERNAL_TAG.search('<img data-offline-removed-src="https://example.org/x.png">')


# ------------------------------------------------------------------------------------- who and what (report.toml)
MADE_UP = """title = "Digits, honestly"
subtitle = "A made-up subtitle"
author = "Zebulon Quattlebaum"
student_id = "s9876543"
course = "Machine Learning 101"
date = 2025-12-03
"""


def test_report_toml_reaches_the_report_top_and_the_title_slide(notebooks: list[Path], tmp_path: Path,
                                                               reveal_dir: Path) -> None:
    from mnistreport.info import load_info

    toml = tmp_path / "report.toml"
    toml.write_text(MADE_UP, encoding="utf-8")
    info = load_info(toml)
    report = export_report(notebooks, tmp_path / "report.html", info).read_text(encoding="utf-8")
    header = report[report.index('<header class="mnist-header"'):report.index("</header>")]
    assert "<h1>Digits, honestly</h1>" in header and "A made-up subtitle" in header
    assert "Zebulon Quattlebaum (s9876543) · Machine Learning 101 · 3 December 2025" in header
    assert "<title>Digits, honestly</title>" in report  # the PDF's title, too (printed from this page)
    deck = export_slides(notebooks, tmp_path / "slides.html", info).read_text(encoding="utf-8")
    title_slide = deck[deck.index('class="mnist-title-slide"'):deck.index("CHOSEN-HEADING-1")]
    for text in ("Digits, honestly", "A made-up subtitle", "Zebulon Quattlebaum · s9876543", "Machine Learning 101",
                 "3 December 2025"):
        assert text in title_slide, text


def test_report_toml_missing_gives_defaults_and_the_first_heading_as_title(notebooks: list[Path],
                                                                          tmp_path: Path) -> None:
    import datetime as dt

    from mnistreport.info import load_info

    info = load_info(tmp_path / "absent.toml")
    assert info == ReportInfo() and info.title == info.author == ""
    today = dt.date.today()
    assert info.byline() == f"{today.day} {today:%B %Y}"  # only the date is left to show
    html = export_report(notebooks, tmp_path / "report.html", info).read_text(encoding="utf-8")
    assert "<h1>Part 1: CHOSEN-HEADING-1</h1>" in html  # the first notebook's first heading


@pytest.mark.parametrize(("text", "message"), [
    ('title = "unclosed\n', "not valid TOML"),
    ('autor = "typo"\n', "unknown key 'autor'"),
    ("author = 42\n", "author must be a string"),
    ("date = 2025-12-03T10:00:00\n", "date must be a string"),
])
def test_malformed_report_toml_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    from mnistreport.info import ReportInfoError, load_info

    toml = tmp_path / "report.toml"
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(ReportInfoError, match=re.escape(message)) as caught:
        load_info(toml)
    assert str(caught.value).startswith(f"{toml}: ") and "\n" not in str(caught.value)


def test_the_repositorys_report_toml_is_valid() -> None:
    from mnistlib import paths
    from mnistreport.info import REPORT_TOML, load_info

    assert REPORT_TOML == paths.ROOT / "report.toml" and REPORT_TOML.is_file()
    assert load_info().title  # the committed file names the study


# ----------------------------------------------------------------------------- the talk: parts of the deck
def _tags_on(cell: nbformat.NotebookNode, *tags: str) -> nbformat.NotebookNode:
    cell.metadata["tags"] = list(tags)
    return cell


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two notebooks whose deck order is the reverse of their files' order, with main, appendix, notes, slide-only
    and takeaway cells."""
    folder = tmp_path_factory.mktemp("talk")
    first = new_notebook(cells=[
        _on_slide(new_markdown_cell("# REPORT-HEADING-A"), "skip"),
        _on_slide(_tags_on(new_markdown_cell("## MAIN-A1"), "slide-only"), "slide"),
        _on_slide(new_code_cell("x", execution_count=1, outputs=[_markdown_output("BODY-A1")]), "-"),
        _on_slide(_tags_on(new_markdown_cell("NOTES-A1"), "slide-only"), "notes"),
        _on_slide(_tags_on(new_code_cell("t", execution_count=2, outputs=[_markdown_output("- TAKEAWAY-A")]),
                           "takeaway"), "-"),
        _on_slide(_tags_on(new_markdown_cell("## APPENDIX-A2"), "appendix"), "slide"),
        _on_slide(new_markdown_cell("BODY-A2"), "-"),
    ])
    second = new_notebook(cells=[
        _on_slide(new_markdown_cell("NOTES-BEFORE-B1"), "notes"),
        _on_slide(new_markdown_cell("## MAIN-B1"), "slide"),
        _on_slide(_tags_on(new_code_cell("t", execution_count=1, outputs=[_markdown_output("- TAKEAWAY-B")]),
                           "takeaway"), "-"),
        _on_slide(_tags_on(new_markdown_cell("## APPENDIX-B2"), "appendix"), "slide"),
    ])
    second.metadata["mnistreport"] = {"deck_order": 0.5}  # the second file's slides come first in the talk
    paths = [folder / "01_a.ipynb", folder / "02_b.ipynb"]
    for path, nb in zip(paths, (first, second), strict=True):
        nbformat.write(nb, path)
    return paths


def _sections(html: str) -> list:
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "html.parser").select(".reveal .slides > section")


def test_the_deck_is_title_main_takeaways_then_a_linked_appendix(talk: list[Path], tmp_path: Path,
                                                                 reveal_dir: Path) -> None:
    html = export_slides(talk, tmp_path / "talk.html", INFO).read_text(encoding="utf-8")
    sections = _sections(html)
    parts = [s.get("data-mnist-part") for s in sections]
    assert parts == ["title", "main", "main", "takeaways", "appendix-contents", "appendix", "appendix"]
    texts = [s.get_text(" ", strip=True) for s in sections]
    assert "MAIN-B1" in texts[1] and "MAIN-A1" in texts[2] and "BODY-A1" in texts[2]  # deck_order 0.5 first
    assert texts[3].index("TAKEAWAY-B") < texts[3].index("TAKEAWAY-A")  # gathered in deck order
    assert "TAKEAWAY" not in " ".join(texts[:3] + texts[4:])
    assert "APPENDIX-B2" in texts[5] and "APPENDIX-A2" in texts[6] and "BODY-A2" in texts[6]
    links = [(a.get_text(), a["href"]) for a in sections[4].select("ol a")]
    assert links == [("APPENDIX-B2", "#/5"), ("APPENDIX-A2", "#/6")]  # reveal.js slide indices of the appendix
    notes = [[n.get_text(" ", strip=True) for n in s.select("aside.notes")] for s in sections]
    assert notes[1] == ["NOTES-BEFORE-B1"] and notes[2] == ["NOTES-A1"]  # on their own slide, not on screen
    assert "REPORT-HEADING-A" not in html


def test_the_report_keeps_file_order_and_leaves_deck_only_cells_out(talk: list[Path], tmp_path: Path) -> None:
    html = export_report(talk, tmp_path / "report.html", INFO).read_text(encoding="utf-8")
    assert html.index("REPORT-HEADING-A") < html.index("MAIN-B1") < html.index("APPENDIX-B2")
    for absent in ("MAIN-A1", "NOTES-A1", "TAKEAWAY-A", "TAKEAWAY-B"):  # slide-only and takeaway cells
        assert absent not in html, absent
    for present in ("BODY-A1", "APPENDIX-A2", "NOTES-BEFORE-B1"):  # notes cells without slide-only stay
        assert present in html, present
    assert '<a href="#nb-1-01_a">REPORT-HEADING-A</a>' in html  # sections named by the report's own headings


def test_a_deck_order_that_is_not_a_number_is_refused(tmp_path: Path, reveal_dir: Path) -> None:
    nb = new_notebook(cells=[_on_slide(new_markdown_cell("## A"), "slide")])
    nb.metadata["mnistreport"] = {"deck_order": "first"}
    nbformat.write(nb, tmp_path / "01_a.ipynb")
    with pytest.raises(NotebookError, match="deck_order must be a number"):
        export_slides([tmp_path / "01_a.ipynb"], tmp_path / "deck.html", INFO)


def test_a_notebooks_first_slide_starts_a_slide_after_its_takeaways_are_taken_out() -> None:
    cells = [_on_slide(new_markdown_cell("n"), "notes"), _on_slide(new_markdown_cell("a"), "-"),
             _on_slide(new_markdown_cell("b"), "slide"), _on_slide(new_markdown_cell("c"), "fragment")]
    groups = export._slide_groups(cells)
    assert [[c.source for c in g] for g in groups] == [["a", "n"], ["b", "c"]]
    assert groups[0][0].metadata.slideshow.slide_type == "slide"


# ------------------------------------------------------------------------------------------ the report on paper
def _demo_notebook(folder: Path) -> Path:
    demo = '<style>.mnist-demo { display: flex; }</style><div class="mnist-demo" id="d1"><canvas></canvas></div>'
    cell = new_code_cell("demo()", execution_count=1, outputs=[
        new_output("display_data", data={"text/html": demo, "text/plain": "<Demo>"})])
    (folder / "notebooks").mkdir(parents=True)
    path = folder / "notebooks" / "07_demo.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Demo"), cell]), path)
    return path


def test_the_demo_prints_as_its_screenshot(tmp_path: Path, png: str) -> None:
    """The report carries figures/demo.png (beside the notebooks' folder) as a print-only stand-in before the demo."""
    path = _demo_notebook(tmp_path)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "demo.png").write_bytes(base64.b64decode(png))
    html = export_report([path], tmp_path / "report.html", INFO).read_text(encoding="utf-8")
    stand_in = html.index('<figure class="mnist-print-only">')
    assert stand_in < html.index('<div class="mnist-demo"')
    assert f"data:image/png;base64,{png[:100]}" in html[stand_in:html.index('<div class="mnist-demo"')]
    css = export._REPORT_CSS
    assert ".mnist-print-only { display: none; }" in css  # on screen: the live demo only
    printed = css[css.index("@media print"):]
    assert ".mnist-print-only { display: block; }" in printed and ".mnist-demo { display: none !important; }" in printed


def test_without_a_screenshot_the_printed_report_says_where_the_demo_runs(tmp_path: Path) -> None:
    html = export_report([_demo_notebook(tmp_path)], tmp_path / "report.html", INFO).read_text(encoding="utf-8")
    assert '<p class="mnist-print-only"><em>The live demo runs in the HTML report and in the slide deck' in html
