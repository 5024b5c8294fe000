"""Every notebook runs top to bottom in quick mode, into a temporary folder, without touching committed files;
`make report` without full MNIST builds under build/sample/, never in the repository's committed folders."""

import hashlib
import json
from pathlib import Path

import pytest

from mnistlib import paths
from mnistreport import build
from mnistreport.build import build_report, notebook_paths

NOTEBOOKS_DIR, FIGURES_DIR, RESULTS_DIR = paths.NOTEBOOKS_DIR, paths.FIGURES_DIR, paths.RESULTS_DIR


def tree_digest(*folders: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders if folder.exists() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    before = tree_digest(NOTEBOOKS_DIR, FIGURES_DIR, RESULTS_DIR)
    out = tmp_path_factory.mktemp("quick")
    report = build_report(mode="quick", out_dir=out, log=None)
    after = tree_digest(NOTEBOOKS_DIR, FIGURES_DIR, RESULTS_DIR)
    return out, report, before, after


@pytest.mark.notebooks
def test_every_notebook_executes_in_quick_mode(quick_report):
    out, report, _, _ = quick_report
    executed = sorted((out / "notebooks").glob("*.ipynb"))
    assert [p.name for p in executed] == [p.name for p in notebook_paths()]
    for notebook in executed:
        cells = json.loads(notebook.read_text())["cells"]
        for cell in cells:
            for output in cell.get("outputs", []):
                assert output["output_type"] != "error", f"{notebook.name}: {output.get('ename')}"


@pytest.mark.notebooks
def test_quick_mode_says_it_uses_the_sample_at_the_top(quick_report):
    out, _, _, _ = quick_report
    for notebook in sorted((out / "notebooks").glob("*.ipynb")):
        code_cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        first_outputs = " ".join(json.dumps(o) for c in code_cells[:3] for o in c.get("outputs", []))
        assert "5,000-digit MNIST sample" in first_outputs, notebook.name


@pytest.mark.notebooks
def test_quick_mode_leaves_committed_files_alone(quick_report):
    _, _, before, after = quick_report
    assert before == after


@pytest.mark.notebooks
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


MAX_CELL_LINES = 12


def test_every_code_cell_is_a_few_lines_except_parameters_and_write_up():
    """Notebooks read like a textbook: a code cell states an experiment or makes a call or two into the package. A
    write-up cell (tagged remove-input: its sentences show, its f-string code stays in JupyterLab) may be longer."""
    for path in notebook_paths():
        for cell in json.loads(path.read_text())["cells"]:
            tags = cell["metadata"].get("tags", [])
            if cell["cell_type"] != "code" or "parameters" in tags or "remove-input" in tags:
                continue
            lines = [line for line in "".join(cell["source"]).splitlines() if line.strip()]
            assert len(lines) <= MAX_CELL_LINES, (
                f"{path.name}: a code cell of {len(lines)} lines (at most {MAX_CELL_LINES}). Split it into cells, "
                "move code several notebooks share into mnistlib, or, if it only writes text, tag it remove-input:\n"
                + "\n".join(lines))


@pytest.mark.notebooks
@pytest.mark.browser
def test_real_report_and_slides_render_offline_in_chromium(quick_report, browser):
    """The report and deck made from the real notebooks: every figure loads, no request leaves the machine."""
    from mnistreport.browser import check_page
    from mnistreport.export import export_slides

    out, report, _, _ = quick_report
    slides = export_slides(sorted((out / "notebooks").glob("*.ipynb")), out / "slides.html")
    for page in (report, slides):
        result = check_page(page, out / f"{page.stem}.png", browser=browser)
        assert result["ok"], (page.name, result["problems"])
        assert (out / f"{page.stem}.png").stat().st_size > 10_000
    html = slides.read_text()
    assert "LeNet-5 against the MLP" in html and "reveal" in html


def test_notebooks_name_the_kernel_the_runner_uses():
    for notebook in notebook_paths():
        spec = json.loads(notebook.read_text())["metadata"]["kernelspec"]
        assert spec["name"] == build.KERNEL == "mnistlib", notebook.name


# ------------------------------------------------------------------------------- which build `make report` runs
@pytest.fixture()
def recorded(monkeypatch, tmp_path):
    """build_report with the notebook runs and the export recorded instead of done (the modes' plumbing only)."""
    calls = {}

    def execute(notebooks, output_dir, parameters=None, log=print, kernel=build.KERNEL):
        calls.update(output_dir=output_dir, parameters=parameters, kernel=kernel)
        output_dir.mkdir(parents=True, exist_ok=True)
        return [output_dir / nb.name for nb in notebooks]

    def export(notebooks, out_html):
        calls.update(exported=list(notebooks), report=out_html)
        return out_html

    monkeypatch.setattr(build, "execute_notebooks", execute)
    monkeypatch.setattr("mnistreport.export.export_report", export)
    monkeypatch.setattr(build, "SAMPLE_DIR", tmp_path / "build" / "sample")
    monkeypatch.setattr(build, "FULL_DIR", tmp_path / "build" / "full")
    return calls


def test_without_full_mnist_the_report_is_built_under_build_sample(recorded, monkeypatch, tmp_path):
    monkeypatch.setattr(build, "full_data_available", lambda: False)
    before = tree_digest(NOTEBOOKS_DIR, FIGURES_DIR, RESULTS_DIR)
    report = build_report(log=None)
    sample = tmp_path / "build" / "sample"
    assert report == sample / "report.html"
    assert recorded["output_dir"] == sample / "notebooks" and recorded["kernel"] == "mnistlib"
    assert recorded["parameters"] == {"RETRAIN": False, "JOBS": "auto", "DATA_SOURCE": "sample",
                                      "RESULTS_DIR": str(sample / "results"), "FIGURES_DIR": str(sample / "figures")}
    assert all(p.parent == sample / "notebooks" for p in recorded["exported"])
    assert tree_digest(NOTEBOOKS_DIR, FIGURES_DIR, RESULTS_DIR) == before


def test_with_full_mnist_the_notebooks_are_replaced_in_place(recorded, monkeypatch, tmp_path):
    import shutil

    monkeypatch.setattr(build, "full_data_available", lambda: True)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for original in notebook_paths()[:2]:
        shutil.copy(original, notebooks / original.name)

    def execute(nbs, output_dir, parameters=None, log=print, kernel=build.KERNEL):
        recorded.update(parameters=parameters)
        output_dir.mkdir(parents=True)
        for nb in nbs:
            (output_dir / nb.name).write_text('{"executed": true}')
        return [output_dir / nb.name for nb in nbs]

    monkeypatch.setattr(build, "execute_notebooks", execute)
    report = build_report(out_dir=tmp_path / "reports", notebooks_dir=notebooks, log=None)
    assert report == tmp_path / "reports" / "report.html"
    assert recorded["parameters"] == {"RETRAIN": False, "JOBS": "auto"}  # results/, figures/: the notebooks' own
    assert [p.read_text() for p in sorted(notebooks.glob("*.ipynb"))] == ['{"executed": true}'] * 2
    assert recorded["exported"] == sorted(notebooks.glob("*.ipynb"))


def test_full_data_is_what_load_mnist_finds(monkeypatch):
    """The mode follows load_mnist(source="auto"), not a second lookup of the data folders."""
    import mnistlib.data

    seen = {}

    class Found:
        full = False

    def fake_load(source="auto", **kwargs):
        seen["source"] = source
        return Found()

    monkeypatch.setattr(mnistlib.data, "load_mnist", fake_load)
    assert build.full_data_available() is False and seen["source"] == "auto"
    Found.full = True
    assert build.full_data_available() is True


def test_unknown_kernel_is_a_clear_error():
    with pytest.raises(RuntimeError, match="make setup"):
        build._check_kernel("no-such-kernel-mnistlib")


def test_executed_notebooks_carry_no_machine_path(tmp_path):
    notebook = tmp_path / "01_x.ipynb"
    inside = str(paths.ROOT / "data" / "MNIST" / "raw")
    notebook.write_text(json.dumps({"metadata": {"papermill": {"input_path": inside}}}), encoding="utf-8")
    build._without_machine_paths(notebook)
    assert json.loads(notebook.read_text())["metadata"]["papermill"]["input_path"] == "data/MNIST/raw"
