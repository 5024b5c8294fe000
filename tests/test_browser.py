"""Open the exported report and deck in headless Chromium, offline, as a student's laptop in class would."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mnistlib import export
from mnistlib.pagecheck import check_page, find_browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(find_browser() is None, reason="no chromium found (scripts/install_browser.sh installs it)"),
]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from test_export import TITLE, figure_png, make_notebooks

    folder = tmp_path_factory.mktemp("browser")
    notebooks = make_notebooks(folder / "notebooks", figure_png())
    files = {"report": export.export_report(notebooks, folder / "reports" / "report.html", title=TITLE)}
    try:
        export.find_reveal()
    except FileNotFoundError:
        return files
    files["slides"] = export.export_slides(
        notebooks, folder / "reports" / "slides.html", title=TITLE, subtitle="Class presentation", date="today"
    )
    return files


def test_report_renders_offline(exported: dict[str, Path]) -> None:
    shot = exported["report"].with_name("report.png")
    result = check_page(exported["report"], shot)
    assert result["ok"], result["problems"]
    assert result["images"] == {"total": 2, "broken": []}
    assert result["external_requests"] == [] and result["reveal"] is None
    assert result["screenshots"] == [str(shot), str(shot.with_name("report-figure.png"))]
    assert png_size(shot) == (1280, 800)
    assert shot.with_name("report-figure.png").stat().st_size > 5_000  # a figure, not a blank page


def test_slides_render_offline_and_navigate(exported: dict[str, Path]) -> None:
    if "slides" not in exported:
        pytest.skip("reveal.js not installed: run `npm ci --no-audit --no-fund`")
    shot = exported["slides"].with_name("slides.png")
    result = check_page(exported["slides"], shot)
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


def test_broken_page_fails_the_check(tmp_path: Path) -> None:
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
    result = check_page(page, tmp_path / "broken.png")
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
