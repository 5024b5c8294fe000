"""Every notebook runs top to bottom in quick mode, into a temporary folder, without touching committed files."""

import hashlib
import json
from pathlib import Path

import pytest

from mnistlib.report import FIGURES_DIR, NOTEBOOKS_DIR, build_report, notebook_paths

pytestmark = pytest.mark.notebooks
REPO = NOTEBOOKS_DIR.parent


def tree_digest(*folders: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders if folder.exists() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    before = tree_digest(NOTEBOOKS_DIR, FIGURES_DIR, REPO / "results")
    out = tmp_path_factory.mktemp("quick")
    report = build_report(quick=True, out_dir=out, log=None)
    after = tree_digest(NOTEBOOKS_DIR, FIGURES_DIR, REPO / "results")
    return out, report, before, after


def test_every_notebook_executes_in_quick_mode(quick_report):
    out, report, _, _ = quick_report
    executed = sorted((out / "notebooks").glob("*.ipynb"))
    assert [p.name for p in executed] == [p.name for p in notebook_paths()]
    for notebook in executed:
        cells = json.loads(notebook.read_text())["cells"]
        for cell in cells:
            for output in cell.get("outputs", []):
                assert output["output_type"] != "error", f"{notebook.name}: {output.get('ename')}"


def test_quick_mode_says_it_uses_the_sample_at_the_top(quick_report):
    out, _, _, _ = quick_report
    for notebook in sorted((out / "notebooks").glob("*.ipynb")):
        code_cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        first_outputs = " ".join(json.dumps(o) for c in code_cells[:3] for o in c.get("outputs", []))
        assert "5,000-digit MNIST sample" in first_outputs, notebook.name


def test_quick_mode_leaves_committed_files_alone(quick_report):
    _, _, before, after = quick_report
    assert before == after


def test_quick_report_has_every_figure(quick_report):
    out, report, _, _ = quick_report
    html = report.read_text()
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert {"01_samples", "03_lenet5_vs_mlp", "04_accuracy_ci", "05_confusion"} <= set(figures)
    assert html.count("data:image/png;base64") >= len(figures)


def test_every_notebook_has_a_tagged_parameters_cell():
    for notebook in notebook_paths():
        cells = json.loads(notebook.read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, notebook.name
        assert "QUICK = False" in "".join(tagged[0]["source"])


@pytest.mark.browser
def test_real_report_and_slides_render_offline_in_chromium(quick_report):
    """The report and deck made from the real notebooks: every figure loads, no request leaves the machine."""
    from mnistlib.export import export_slides
    from mnistlib.pagecheck import check_page, find_browser

    if find_browser() is None:
        pytest.skip("no Chromium-family browser installed (scripts/install_browser.sh installs one)")
    out, report, _, _ = quick_report
    slides = export_slides(sorted((out / "notebooks").glob("*.ipynb")), out / "slides.html", subtitle="quick")
    for page in (report, slides):
        result = check_page(page, out / f"{page.stem}.png")
        assert result["ok"], (page.name, result["problems"])
        assert (out / f"{page.stem}.png").stat().st_size > 10_000
    html = slides.read_text()
    assert "Summary" in html and "reveal" in html
