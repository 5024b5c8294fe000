"""Open the exported report and deck in headless Chromium (Playwright), offline, as a student's laptop in class
would; print the report to PDF and read its pages back with pdftoppm."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mnistreport import browser as pagecheck
from mnistreport import export
from mnistreport.info import ReportInfo

INFO = ReportInfo(title="LeNet-5 vs a custom MLP on MNIST", subtitle="Class presentation", date="today",
                  author="Zebulon Quattlebaum", student_id="s9876543", course="Machine Learning 101")
pytestmark = pytest.mark.browser


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from test_export import figure_png, make_notebooks

    folder = tmp_path_factory.mktemp("browser")
    notebooks = make_notebooks(folder / "notebooks", figure_png())
    files = {"report": export.export_report(notebooks, folder / "reports" / "report.html", INFO),
             "notebooks": notebooks[0].parent}
    files["slides"] = export.export_slides(notebooks, folder / "reports" / "slides.html", INFO)
    return files


def test_report_renders_offline(exported: dict[str, Path], browser) -> None:
    shot = exported["report"].with_name("report.png")
    result = pagecheck.check_page(exported["report"], shot, browser=browser)
    assert result["ok"], result["problems"]
    assert result["images"] == {"total": 2, "broken": []}
    assert result["external_requests"] == [] and result["reveal"] is None
    assert result["screenshots"] == [str(shot), str(shot.with_name("report-figure.png"))]
    assert png_size(shot) == (1280, 800)
    assert shot.with_name("report-figure.png").stat().st_size > 5_000  # a figure, not a blank page


def test_slides_render_offline_and_navigate(exported: dict[str, Path], browser) -> None:
    shot = exported["slides"].with_name("slides.png")
    result = pagecheck.check_page(exported["slides"], shot, browser=browser)
    assert result["ok"], result["problems"]
    reveal = result["reveal"]
    assert reveal["ready"] and reveal["ready_class"] and reveal["keyboard_ok"]
    assert reveal["horizontal_slides"] == 5  # title + per notebook: heading slide, figure slide
    assert reveal["total_slides"] == 7  # + one subslide per notebook
    assert reveal["figure_slide"] == {"h": 2, "v": 0}
    assert result["images"] == {"total": 2, "broken": []}
    figure = shot.with_name("slides-figure.png")
    assert result["screenshots"] == [str(shot), str(figure)]
    assert png_size(shot) == png_size(figure) == (1280, 800)
    assert figure.stat().st_size > shot.stat().st_size  # the figure slide holds more than the title slide


def test_the_deck_has_the_speaker_notes_plugin(exported: dict[str, Path], browser) -> None:
    """reveal.js's notes plugin (vendored) is registered: `S` opens the speaker view."""
    with pagecheck.offline_page(browser) as page:
        page.goto(exported["slides"].resolve().as_uri())
        page.wait_for_function("() => typeof Reveal !== 'undefined' && Reveal.isReady()")
        assert page.evaluate("() => Reveal.hasPlugin('notes') && typeof Reveal.getPlugin('notes').open")
        assert page.errors == [] and page.refused == []


@pytest.mark.parametrize("size", [(1280, 800), (1024, 768)])
def test_every_slide_fits_a_projector(exported: dict[str, Path], browser, tmp_path: Path,
                                      size: tuple[int, int]) -> None:
    """At both sizes: one screenshot per slide, and no slide's content runs past the slide's bottom."""
    shots = pagecheck.screenshot_deck(exported["slides"], tmp_path, size=size, browser=browser)
    assert len(shots) == 7 and all(png_size(p) == size for p in shots)
    with pagecheck.offline_page(browser, size) as page:
        page.goto(exported["slides"].resolve().as_uri() + "#/2")
        page.wait_for_function("() => typeof Reveal !== 'undefined' && Reveal.isReady()")
        page.wait_for_timeout(500)
        fit = page.evaluate("""() => {
            const slide = Reveal.getCurrentSlide(), img = slide.querySelector('img');
            return {img: img.getBoundingClientRect().width, slides: document.querySelector('.reveal .slides')
                    .getBoundingClientRect().width, overflow: slide.scrollHeight - Reveal.getConfig().height};
        }""")
    assert fit["overflow"] <= 0, fit
    assert fit["img"] > 0.4 * fit["slides"], fit  # a figure is shown large, not as a thumbnail


def test_measure_deck_at_a_projectors_size(exported: dict[str, Path], browser, tmp_path: Path) -> None:
    """measure_deck shows every slide at 1024x768 and measures it as the audience sees it: text sizes in screen
    pixels, words, the figures' rendered sizes; and it catches a slide whose text runs past the bottom."""
    slides = pagecheck.measure_deck(exported["slides"], size=(1024, 768), browser=browser)
    assert [(s["h"], s["v"]) for s in slides] == [(0, 0), (1, 0), (2, 0), (2, 1), (3, 0), (4, 0), (4, 1)]
    assert [s["part"] for s in slides] == ["title"] + ["main"] * 6
    assert all(0.7 < s["scale"] < 0.8 for s in slides)  # the 1280x800 deck scaled down to the screen
    heading = next(s for s in slides if s["heading"] == "Part 1: CHOSEN-HEADING-1")
    assert heading["words"] == pagecheck.words("Part 1: CHOSEN-HEADING-1 Loss $\\alpha x^2$ in prose.") == 7
    figure = next(s for s in slides if s["images"])
    (image,) = figure["images"]
    assert image["width"] > 0.5 * figure["slide_width"] and image["natural_width"] == 240  # beside its table
    table = next(t for s in slides for t in s["texts"] if t["table"])
    assert table["px"] >= 18  # tables never shrink below 24 slide pixels
    assert all(s["overflow"] <= 0 and s["min_text_px"] >= 18 for s in slides if s["texts"])
    long = tmp_path / "01_long.ipynb"
    cell = new_markdown_cell("## Too long\n\n" + "\n\n".join(f"Paragraph {k} of many." for k in range(40)))
    cell.metadata["slideshow"] = {"slide_type": "slide"}
    nbformat.write(new_notebook(cells=[cell]), long)
    deck = export.export_slides([long], tmp_path / "long.html", INFO)
    (_, too_long) = pagecheck.measure_deck(deck, size=(1024, 768), browser=browser)
    assert too_long["heading"] == "Too long" and too_long["overflow"] > 500 and too_long["words"] == 2 + 40 * 3


def test_words_are_tokens_with_a_letter() -> None:
    assert pagecheck.words("LeNet-5: 98.99% ± 0.15 (10 seeds), 5x5 filters") == 4


def test_inline_script_outputs_run_in_report_and_slides(tmp_path: Path, browser) -> None:
    """A notebook output carrying its own inline JavaScript (an interactive demo) runs in both pages."""
    script = ('<div class="demo-box">waiting</div><script>document.querySelectorAll(".demo-box")'
              '.forEach((e) => { e.textContent = "DEMO-RAN"; });</script>')
    cell = new_code_cell("demo()", execution_count=1,
                         outputs=[new_output("display_data", data={"text/html": script, "text/plain": "<Demo>"})])
    cell.metadata["slideshow"] = {"slide_type": "slide"}
    path = tmp_path / "07_demo.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Demo"), cell]), path)
    pages = [export.export_report([path], tmp_path / "report.html", INFO),
             export.export_slides([path], tmp_path / "slides.html", INFO)]
    for html in pages:
        with pagecheck.offline_page(browser) as page:
            page.goto(html.as_uri())
            assert page.locator(".demo-box").first.text_content() == "DEMO-RAN", html.name
            assert page.errors == [] and page.refused == []


def test_broken_page_fails_the_check(tmp_path: Path, browser) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title>"
        '<script src="https://cdn.example.org/reveal.js"></script>'
        '<script src="missing-local.js"></script></head><body>'
        '<img src="data:image/png;base64,AAAA" alt="corrupt figure">'
        '<img src="figures/missing.png" alt="missing figure">'
        '<div class="reveal"><div class="slides"><section>deck without reveal.js</section></div></div>'
        "<script>undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    result = pagecheck.check_page(page, tmp_path / "broken.png", browser=browser)
    assert not result["ok"]
    assert result["external_requests"] == ["https://cdn.example.org/reveal.js"]
    assert len(result["images"]["broken"]) == 2
    assert any("missing-local.js" in failure for failure in result["failed_requests"])
    assert any("undefinedFunction" in error for error in result["js_errors"])
    assert result["reveal"]["ready"] is False
    text = "\n".join(result["problems"])
    for expected in ("request leaving the machine", "image not loaded", "reveal.js did not initialise", "script error"):
        assert expected in text
    assert (tmp_path / "broken.png").is_file()


# -------------------------------------------------------------------------------------------------------- PDF
def pdf_words(pdf: Path, *pages: int) -> list[str]:
    """The words pdftotext reads from the PDF (all pages, or `first, last`), in the order they were drawn."""
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("no pdftotext (make test installs Debian's poppler-utils)")
    limits = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    return subprocess.run([tool, *limits, str(pdf), "-"], check=True, capture_output=True, text=True).stdout.split()


def found_in_order(words: list[str], phrase: str, gap: int = 4) -> bool:
    """`phrase`'s words appear in `words` in order, with at most `gap` other words between two of them: a table
    cell that wraps onto several lines is read line by line, interleaved with its neighbours' lines."""
    words = [word.replace("-", "") for word in words]  # pdftotext joins a word hyphenated across two lines
    want = phrase.replace("-", "").split()
    for start in (i for i, word in enumerate(words) if word == want[0]):
        position = start
        for token in want[1:]:
            window = words[position + 1:position + 2 + gap]
            if token not in window:
                break
            position += 1 + window.index(token)
        else:
            return True
    return False


def test_found_in_order_allows_interleaved_neighbours() -> None:
    words = "LeNet-5, 1998 partial C3 5 vs LeNet-5 98.96%".split()
    assert found_in_order(words, "LeNet-5, 1998 partial C3 vs LeNet-5")
    assert not found_in_order(words, "LeNet-5, 1998 partial C5")
    assert not found_in_order("a x x x x x b".split(), "a b")


def test_pdf_has_every_figure_whole(exported: dict[str, Path], browser, tmp_path: Path) -> None:
    """The report printed by Chromium: A4 pages, read back with pdftoppm; each figure lands whole on one page."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("no pdftoppm (make test installs Debian's poppler-utils)")
    pdf = pagecheck.print_pdf(exported["report"], tmp_path / "report.pdf", browser=browser)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run([pdftoppm, "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    # the cover (who and what, contents) with the first notebook, then each other notebook from a new page
    assert len(pages) == 2, len(pages)
    assert {png_size(p) for p in pages} == {(248, 351)}  # A4 at 30 dpi
    # pdfimages lists the embedded images: the two figures, each once (not cut in two across a page break)
    listed = subprocess.run([shutil.which("pdfimages") or "pdfimages", "-list", str(pdf)], check=True,
                            capture_output=True, text=True).stdout.splitlines()[2:]
    assert len(listed) == 2, listed
    assert len({line.split()[0] for line in listed}) == 2  # on two different pages
    first = " ".join(pdf_words(pdf, 1, 1))
    for text in ("LeNet-5 vs a custom MLP on MNIST", "Class presentation",
                 "Zebulon Quattlebaum (s9876543) · Machine Learning 101 · today",
                 "CHOSEN-HEADING-1"):  # who and what on top, and the first notebook right after the contents
        assert text in first, (text, first[:500])
    assert "CHOSEN-MARKDOWN-2" not in first


WIDE_COLUMNS = {"arm": "arm", "seeds": "seeds", "mean": "mean test acc",
                "diff": "difference, points (95% CI, seeds and test images)", "images": "test images",
                "seed_ci": "95% CI, this test set", "p": "Holm p", "seed_p": "Holm p, this test set",
                "verdict": "verdict"}
VERDICTS = ["baseline", "helps on this test set (not shown for new digits)", "no effect detected", "helps",
            "hurts on this test set (not shown for new digits)", "WIDE-LAST-VERDICT"]


def test_pdf_prints_wide_tables_whole_without_code_folds(tmp_path: Path, browser) -> None:
    """A nine-column table, as wide as notebook 4's full ablation table: on A4 every header and every verdict is in
    the PDF's text (wrapped and shrunk to fit, not cut at the page's edge); no "Code" fold is printed."""
    from mnistlib.tables import markdown_table

    rows = [{"arm": f"Arm number {k} with a long name", "seeds": 10, "mean": "99.27%",
             "diff": "+0.09 (+0.02 to +0.16)", "images": "+9", "seed_ci": "+0.03 to +0.14", "p": "0.055",
             "seed_p": "0.021", "verdict": verdict} for k, verdict in enumerate(VERDICTS)]
    cell = new_code_cell("report.md(tables.comparison_table(rows))  # CODE-IN-REPORT", execution_count=1,
                         outputs=[new_output("display_data", data={"text/markdown": markdown_table(rows, WIDE_COLUMNS),
                                                                   "text/plain": "<Markdown>"})])
    path = tmp_path / "04_wide.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Wide"), cell]), path)
    html = export.export_report([path], tmp_path / "report.html", INFO)
    assert "CODE-IN-REPORT" in html.read_text(encoding="utf-8")  # folded on screen ...
    pdf = pagecheck.print_pdf(html, tmp_path / "report.pdf", browser=browser)
    words = pdf_words(pdf)
    assert "CODE-IN-REPORT" not in " ".join(words) and "Code" not in words  # ... and not printed
    for text in [*WIDE_COLUMNS.values(), *VERDICTS]:
        assert found_in_order(words, text), (text, " ".join(words)[:2000])
