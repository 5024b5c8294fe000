"""Publishing is its own package: mnistlib pulls in no publishing tool, mnistreport ships its files, and the deck
needs no Node (reveal.js is vendored)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parent.parent
PUBLISHING = ("playwright", "nbconvert", "papermill", "nbclient", "mnistreport")

# Imports every module of mnistlib (but __main__, which runs the command line) and any extra modules named on the
# command line, in a fresh interpreter; prints what was imported and which publishing tools ended up in sys.modules.
PROBE = """
import importlib, json, pkgutil, sys
import mnistlib
names = [m.name for m in pkgutil.walk_packages(mnistlib.__path__, "mnistlib.") if not m.name.endswith("__main__")]
names += sys.argv[2:]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
tools = sys.argv[1].split(",")
print(json.dumps({"imported": names, "failed": failed,
                  "publishing": sorted(m for m in sys.modules if m.split(".")[0] in tools)}))
"""


def probe(*extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(PUBLISHING), *extra], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_every_mnistlib_module_pulls_in_no_publishing_tool():
    found = probe()
    assert found["failed"] == {}
    assert {"mnistlib.training", "mnistlib.experiments", "mnistlib.report"} <= set(found["imported"])
    assert not any(name.startswith("mnistlib.publish") for name in found["imported"])  # moved to mnistreport
    assert found["publishing"] == []


def test_the_probe_sees_a_publishing_import():
    """The same probe, with one publishing module added, reports it (so an empty list above means something)."""
    found = probe("mnistreport.build", "nbclient")
    assert {"mnistreport", "mnistreport.build", "nbclient"} <= set(found["publishing"])


def test_mnistlib_never_imports_mnistreport():
    offenders = []
    for path in sorted((REPO / "mnistlib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "mnistreport"]
    assert offenders == []
    assert not (REPO / "mnistlib" / "publish").exists()


def test_pyproject_ships_mnistreport_with_its_files_and_its_own_extra():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    assert "mnistreport*" in setuptools["packages"]["find"]["include"]
    patterns = setuptools["package-data"]["mnistreport"]
    package = REPO / "mnistreport"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    data = {p for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc" and p.suffix != ".py"}
    assert data and data <= shipped, sorted(str(p.relative_to(package)) for p in data - shipped)
    assert package / "vendor" / "reveal.js" / "plugin" / "notes" / "notes.js" in shipped
    extras = project["project"]["optional-dependencies"]
    publish = " ".join(extras["publish"])
    assert all(tool in publish for tool in ("playwright", "nbclient", "nbconvert", "nbformat"))
    assert "mnistlib[publish]" in extras["dev"]
    core = " ".join(project["project"]["dependencies"])
    assert not any(tool in core for tool in ("playwright", "nbclient", "nbconvert", "papermill"))


# ---------------------------------------------------------------------------------------------- no Node
def test_no_npm_anywhere_in_the_build():
    assert not (REPO / "package.json").exists() and not (REPO / "package-lock.json").exists()
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for word in ("npm", "node_modules", "package.json", "mnistlib.publish"):
        assert word not in makefile, word
    if shutil.which("make") is None:
        pytest.skip("no make to expand the recipes")
    recipes = subprocess.run(["make", "--dry-run", "--always-make", "test", "slides", "pdf", "quick-report"],
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "-m mnistreport slides" in recipes and "-m pytest" in recipes
    assert "npm" not in recipes and "node" not in recipes.replace("notebook", "")


def test_the_vendored_reveal_is_version_5_with_its_license(monkeypatch: pytest.MonkeyPatch):
    from mnistreport.export import VENDORED_REVEAL, find_reveal

    monkeypatch.delenv("MNISTLIB_REVEAL_DIR", raising=False)
    assert find_reveal() == VENDORED_REVEAL
    assert re.search(r"reveal\.js 5\.\d+", (VENDORED_REVEAL / "dist" / "reveal.js").read_text(encoding="utf-8")[:80])
    assert "MIT" in (VENDORED_REVEAL / "README.md").read_text(encoding="utf-8")
    assert "Permission is hereby granted" in (VENDORED_REVEAL / "LICENSE").read_text(encoding="utf-8")


def test_mnistlib_reveal_dir_still_overrides_and_version_4_is_refused(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    from mnistreport.export import find_reveal

    for version in ("5.1.0", "4.6.1"):
        (tmp_path / version / "dist").mkdir(parents=True)
        (tmp_path / version / "dist" / "reveal.js").write_text(f"/*!\n * reveal.js {version}\n */\n")
    monkeypatch.setenv("MNISTLIB_REVEAL_DIR", str(tmp_path / "5.1.0"))
    assert find_reveal() == tmp_path / "5.1.0"
    monkeypatch.setenv("MNISTLIB_REVEAL_DIR", str(tmp_path / "4.6.1"))
    with pytest.raises(RuntimeError, match="reveal.js 4.6 found, version 5 expected"):
        find_reveal()


def _without_node(path: str) -> str:
    return os.pathsep.join(d for d in path.split(os.pathsep)
                           if d and not any(Path(d, tool).exists() for tool in ("node", "nodejs", "npm")))


def test_the_deck_builds_with_node_hidden(tmp_path: Path):
    nb = new_notebook(cells=[new_markdown_cell("# A deck"), new_code_cell("x", execution_count=1, outputs=[
        new_output("display_data", data={"text/markdown": "NODE-FREE-SLIDE", "text/plain": "x"})])])
    nb.cells[1].metadata["slideshow"] = {"slide_type": "slide"}
    nbformat.write(nb, tmp_path / "01_deck.ipynb")
    (tmp_path / "report.toml").write_text('author = "No Node"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("MNISTLIB_REVEAL_DIR", "NODE_PATH", "PYTHONPATH")}
    env["PATH"] = _without_node(os.environ.get("PATH", ""))
    assert shutil.which("node", path=env["PATH"]) is None and shutil.which("npm", path=env["PATH"]) is None
    done = subprocess.run([sys.executable, "-m", "mnistreport", "slides", "--notebooks", "01_deck.ipynb",
                           "--out", "deck.html", "--info", "report.toml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    html = (tmp_path / "deck.html").read_text(encoding="utf-8")
    from mnistreport.export import VENDORED_REVEAL

    assert (VENDORED_REVEAL / "dist" / "reveal.js").read_text(encoding="utf-8")[1000:1200] in html
    assert "RevealNotes" in html and "[RevealNotes]" in html  # speaker notes on the S key
    assert "NODE-FREE-SLIDE" in html and "No Node" in html
