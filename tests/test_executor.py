"""The notebook executor behind `make report`: parameters applied without a second cell, the same bytes on every
rebuild (no timings, no papermill metadata, no temporary paths, stable cell ids), a line at least every minute."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnistlib import paths
from mnistreport import build
from mnistreport.build import NotebookExecutionError, execute_notebook, read_for_execution
from mnistreport.export import NotebookError

PARAMETERS_SOURCE = 'GREETING = "default"  # the file keeps this\nN = 1\nWHERE = "."\n'


def joined(text: str | list[str]) -> str:
    """Text as stored in a notebook file: a string or a list of lines."""
    return "".join(text) if isinstance(text, list) else text


def cell(cell_type: str, source: str, tags: tuple[str, ...] = (), **metadata) -> dict:
    made = {"cell_type": cell_type, "metadata": {**metadata, **({"tags": list(tags)} if tags else {})},
            "source": source}
    if cell_type == "code":
        made.update(execution_count=None, outputs=[])
    return made


def tiny_notebook(path: Path, cells: list[dict], minor: int = 4) -> Path:
    """A notebook as papermill left them: nbformat 4.4 without cell ids, an injected-parameters cell, timings."""
    nb = {"nbformat": 4, "nbformat_minor": minor, "cells": cells,
          "metadata": {"kernelspec": {"name": "mnistlib", "display_name": "Python (mnistlib)", "language": "python"},
                       "papermill": {"input_path": "/" + "tmp/papermill-xyz/in.ipynb", "start_time": "2025-01-01"}}}
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    timing = {"iopub.execute_input": "2025-11-30T10:00:00.1Z", "shell.execute_reply": "2025-11-30T10:00:01Z"}
    cells = [
        cell("markdown", "# Tiny"),
        cell("code", PARAMETERS_SOURCE, ("parameters",), execution=timing),
        cell("code", "# Parameters\nN = 99\n", ("injected-parameters",), papermill={"duration": 0.1}),
        cell("code", "import sys, time\nprint(GREETING * N)\nprint('RELAYED-LINE', file=sys.stderr)\ntime.sleep(1.2)",
             ExecuteTime={"end_time": "2025-11-30 10:00:02"}),
        cell("code", "from mnistlib import paths\nprint(paths.ROOT / 'results' / 'x.json')", ("readme",)),
    ]
    return tiny_notebook(tmp_path_factory.mktemp("src") / "01_tiny.ipynb", cells)


@pytest.fixture(scope="module")
def executed(notebook: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, list[str]]]:
    """The tiny notebook executed twice, then its executed copy executed again (a rebuild of a committed file)."""
    out = tmp_path_factory.mktemp("out")
    runs = []
    for source, target in ((notebook, out / "a" / notebook.name), (notebook, out / "b" / notebook.name),
                           (out / "a" / notebook.name, out / "c" / notebook.name)):
        log: list[str] = []
        execute_notebook(source, target, {"GREETING": "hi", "N": 3}, log=log.append, heartbeat=0.3)
        runs.append((target, log))
    return runs


def test_two_runs_give_byte_identical_files(executed):
    (first, _), (second, _), (rebuilt, _) = executed
    assert first.read_bytes() == second.read_bytes()
    assert rebuilt.read_bytes() == first.read_bytes()  # executing an executed copy again changes nothing


def test_one_parameters_cell_keeping_its_source_while_the_run_used_the_values(executed):
    nb = json.loads(executed[0][0].read_text(encoding="utf-8"))
    tags = [c["metadata"].get("tags", []) for c in nb["cells"]]
    assert sum("parameters" in t for t in tags) == 1 and not any("injected-parameters" in t for t in tags)
    assert len(nb["cells"]) == 4
    assert "".join(nb["cells"][1]["source"]) == PARAMETERS_SOURCE
    printed = "".join(joined(o["text"]) for o in nb["cells"][2]["outputs"] if o.get("name") == "stdout")
    assert printed == "hihihi\n"  # the run's values (N = 99 of the dropped injected cell is gone too)


def test_no_timings_papermill_metadata_or_machine_paths(executed):
    path = executed[0][0]
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    assert "papermill" not in nb["metadata"] and set(nb["metadata"]) == {"kernelspec", "language_info"}
    for found in nb["cells"]:
        assert not {"execution", "papermill", "ExecuteTime"} & set(found["metadata"]), found["metadata"]
    for volatile in ("2025-11-30", "/" + "tmp/papermill", str(paths.ROOT), str(path.parent)):
        assert volatile not in text, volatile
    assert "".join(joined(o["text"]) for o in nb["cells"][3]["outputs"]) == "results/x.json\n"


def test_cell_ids_are_kept_or_derived_from_position_and_content(notebook: Path, executed, tmp_path: Path):
    ids = [c["id"] for c in json.loads(executed[0][0].read_text(encoding="utf-8"))["cells"]]
    assert len(set(ids)) == 4 and json.loads(executed[0][0].read_text())["nbformat_minor"] >= 5
    again = [c.id for c in read_for_execution(notebook).cells]
    assert again == ids  # derived the same way each time, not random
    raw = json.loads(notebook.read_text(encoding="utf-8"))
    for position, found in enumerate(raw["cells"]):
        found["id"] = f"kept-{position}"
    raw["cells"][3]["id"] = "kept-0"  # a duplicate is replaced, the first keeps it
    raw["nbformat_minor"] = 5
    path = tmp_path / "ids.ipynb"
    path.write_text(json.dumps(raw), encoding="utf-8")
    ids = [c.id for c in read_for_execution(path).cells]  # the injected cell (kept-2) is dropped
    assert ids[:2] + ids[3:] == ["kept-0", "kept-1", "kept-4"] and ids[2] not in ids[:2] + ids[3:]
    assert [c.id for c in read_for_execution(path).cells] == ids


def test_the_build_relays_stderr_and_says_it_is_still_running(executed):
    (_, log), *_ = executed
    assert "  01_tiny.ipynb: RELAYED-LINE" in log
    beats = [line for line in log if line.startswith("still executing 01_tiny.ipynb (")]
    assert any("cell 3 of 4)" in line for line in beats)  # 1.2 s asleep in cell 3, a line every 0.3 s of silence


def test_default_heartbeat_is_a_minute():
    assert build.HEARTBEAT_S == 60


def test_a_failing_cell_names_the_notebook_and_cell_and_the_copy_keeps_the_traceback(tmp_path: Path):
    source = tiny_notebook(tmp_path / "02_bad.ipynb", [cell("code", "import os\nprint(os.getcwd())"),
                                                       cell("code", "1 / 0  # boom")], 5)
    log: list[str] = []
    with pytest.raises(NotebookExecutionError, match=r"02_bad\.ipynb: cell 2 \('1 / 0  # boom'\) raised "
                                                     r"ZeroDivisionError: division by zero"):
        execute_notebook(source, tmp_path / "out" / "02_bad.ipynb", log=log.append)
    cells = json.loads((tmp_path / "out" / "02_bad.ipynb").read_text())["cells"]
    assert cells[1]["outputs"][0]["output_type"] == "error" and not any("ZeroDivisionError" in line for line in log)
    assert joined(cells[0]["outputs"][0]["text"]) == f"{tmp_path}\n"  # the kernel runs in the notebook's folder


def test_bad_input_is_one_line_naming_the_file(tmp_path: Path):
    no_parameters = tiny_notebook(tmp_path / "03_plain.ipynb", [cell("code", "x = 1")])
    with pytest.raises(NotebookError, match=r"03_plain\.ipynb: 0 cells tagged 'parameters'"):
        execute_notebook(no_parameters, tmp_path / "out.ipynb", {"N": 1}, log=None)
    broken = tmp_path / "04_broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(NotebookError, match=r"04_broken\.ipynb: not a valid notebook \(not valid JSON"):
        execute_notebook(broken, tmp_path / "out.ipynb", log=None)
    two = tiny_notebook(tmp_path / "05_two.ipynb", [cell("code", "A = 1", ("parameters",)),
                                                    cell("code", "B = 2", ("parameters",))])
    with pytest.raises(NotebookError, match=r"05_two\.ipynb: 2 cells tagged 'parameters'"):
        execute_notebook(two, tmp_path / "out.ipynb", {"A": 3}, log=None)
    with pytest.raises(ValueError, match="a Python name and a literal value"):
        execute_notebook(notebook_with_parameters(tmp_path), tmp_path / "out.ipynb", {"A": object()}, log=None)
    assert not (tmp_path / "out.ipynb").exists()


def test_an_unknown_kernel_is_named_before_anything_runs(tmp_path: Path):
    source = notebook_with_parameters(tmp_path)
    with pytest.raises(RuntimeError, match="no Jupyter kernel named 'no-such-kernel'.*make setup"):
        execute_notebook(source, tmp_path / "out.ipynb", {"A": 2}, log=None, kernel="no-such-kernel")
    assert not (tmp_path / "out.ipynb").exists()


def notebook_with_parameters(folder: Path) -> Path:
    return tiny_notebook(folder / "06_params.ipynb", [cell("code", "A = 1", ("parameters",))])


# ------------------------------------------------------------------------------------------- where it writes
def test_a_relative_out_dir_is_taken_from_the_callers_directory(monkeypatch, tmp_path: Path):
    """`make quick-report` passes build/quick: the notebooks (run in notebooks/) get it made absolute."""
    calls = {}

    def execute(notebooks, output_dir, parameters=None, log=print, kernel=build.KERNEL):
        calls.update(output_dir=output_dir, parameters=parameters)
        return [output_dir / nb.name for nb in notebooks]

    monkeypatch.setattr(build, "execute_notebooks", execute)
    monkeypatch.setattr("mnistreport.export.export_report", lambda notebooks, out_html: out_html)
    notebooks = tmp_path / "repo" / "notebooks"
    notebooks.mkdir(parents=True)
    notebook_with_parameters(notebooks)
    monkeypatch.chdir(tmp_path / "repo")
    report = build.build_report(mode="quick", out_dir=Path("build/quick"), notebooks_dir=notebooks, log=None)
    quick = tmp_path / "repo" / "build" / "quick"
    assert report == quick / "report.html" and calls["output_dir"] == quick / "notebooks"
    assert calls["parameters"]["RESULTS_DIR"] == str(quick / "results")
    assert calls["parameters"]["FIGURES_DIR"] == str(quick / "figures")
