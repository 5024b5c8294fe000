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
def test_pdf_has_every_figure_whole(exported: dict[str, Path], browser, tmp_path: Path) -> None:
    """The report printed by Chromium: A4 pages, read back with pdftoppm; each figure lands whole on one page."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("no pdftoppm (make test installs Debian's poppler-utils)")
    pdf = pagecheck.print_pdf(exported["report"], tmp_path / "report.pdf", browser=browser)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run([pdftoppm, "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    # cover with contents, then each notebook from a new page
    assert 3 <= len(pages) <= 6, len(pages)
    assert {png_size(p) for p in pages} == {(248, 351)}  # A4 at 30 dpi
    # pdfimages lists the embedded images: the two figures, each once (not cut in two across a page break)
    listed = subprocess.run([shutil.which("pdfimages") or "pdfimages", "-list", str(pdf)], check=True,
                            capture_output=True, text=True).stdout.splitlines()[2:]
    assert len(listed) == 2, listed
    assert len({line.split()[0] for line in listed}) == 2  # on two different pages
    if shutil.which("pdftotext"):  # report.toml's who and what, on the first page
        first = subprocess.run([shutil.which("pdftotext"), "-l", "1", str(pdf), "-"], check=True,
                               capture_output=True, text=True).stdout
        for text in ("LeNet-5 vs a custom MLP on MNIST", "Class presentation",
                     "Zebulon Quattlebaum (s9876543) · Machine Learning 101 · today"):
            assert text in first, (text, first[:500])


def test_pdf_folds_code_and_avoids_splitting_cells() -> None:
    css = export._REPORT_CSS
    assert "@page { size: A4" in css and "break-inside: avoid" in css
    template = export._REPORT_TEMPLATE
    assert '<details class="mnist-code"><summary>Code</summary>' in template  # closed: folded on paper too
