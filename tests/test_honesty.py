"""Tests that would catch a claim the data do not support: training on held-out images, log-probabilities sold as
logits, machine paths in committed files, and committed notebooks whose numbers drifted from results/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from mnistlib.data import MEAN, STD, MnistArrays, train_val_split
from mnistlib.models import CustomMLP, LeNet5, LeNet5Original
from mnistlib.training import TrainSettings, fit

REPO = Path(__file__).resolve().parent.parent


def test_fit_never_trains_on_the_held_out_validation_images(sample_data: MnistArrays):
    """Every image the model sees in training mode is a training image; none of the held-out ones is."""
    data = MnistArrays(sample_data.train_images[:1200], sample_data.train_labels[:1200],
                       sample_data.test_images[:200], sample_data.test_labels[:200], "sample", "")
    settings = TrainSettings(epochs=2, val_size=200, test_every_epoch=False)
    (_, _), (val_images, _) = train_val_split(data.train_images, data.train_labels, settings.val_size, seed=3)
    held_out = {bytes(image.numpy()) for image in val_images}
    seen_in_training: set[bytes] = set()
    model = CustomMLP()

    def record(module: nn.Module, inputs: tuple[torch.Tensor]) -> None:
        if module.training:  # undo the normalisation to compare raw digits
            raw = (inputs[0][:, 0] * STD + MEAN) * 255
            seen_in_training.update(bytes(img.round().clamp(0, 255).to(torch.uint8).numpy()) for img in raw)

    model.register_forward_pre_hook(record)
    fit(model, data, settings, seed=3, device="cpu", progress="none", log=None)
    assert len(seen_in_training) >= 900  # the 1,000 training images (a few duplicates of blank strokes aside)
    assert not seen_in_training & held_out, "fit trained on validation images"


def _looks_like_log_probabilities(model: nn.Module) -> bool:
    out = model(torch.randn(16, 1, 28, 28))
    return bool(torch.allclose(torch.logsumexp(out, dim=1), torch.zeros(16), atol=1e-4))


def test_models_return_logits_not_log_probabilities():
    torch.manual_seed(0)
    for model in (LeNet5(), CustomMLP(), LeNet5Original(), LeNet5(batch_norm=True, dropout=0.25).eval()):
        assert not _looks_like_log_probabilities(model), type(model).__name__
    # The check itself fails for a model ending in log_softmax (CrossEntropyLoss would apply softmax twice).
    assert _looks_like_log_probabilities(nn.Sequential(CustomMLP(), nn.LogSoftmax(dim=1)))


# Built from pieces so that this file does not match itself.
_MACHINE_PATH = re.compile("/" + "(?:work|tmp|home|root|Users)" + r"/[A-Za-z0-9_.-]+/")


def test_no_tracked_file_holds_a_machine_path():
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    offenders = []
    for name in listed.stdout.splitlines():
        path = REPO / name
        if path.suffix in {".png", ".gz", ".pt", ".pdf"} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if _MACHINE_PATH.search(text):
            offenders.append(name)
    assert not offenders, f"absolute machine paths in tracked files: {offenders[:10]}"


def _markdown_outputs(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    return [out["data"]["text/markdown"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if "text/markdown" in out.get("data", {})]


@pytest.fixture(scope="module")
def full_study():
    """The committed study, read from results/ without training anything (skips without the full mirror)."""
    from mnistlib.data import load_mnist
    from mnistlib.study import Study

    data = load_mnist(source="auto", verbose=False)
    if not data.full:
        pytest.skip("needs full MNIST (MNIST_MIRROR or ../shared/mnist) to score the stored predictions")
    return Study(data, train_missing=False, log=None)


@pytest.mark.full_data
def test_committed_notebooks_say_what_results_say(full_study):
    """Recompute the generated tables and sentences of notebooks 3, 4 and 6 and find them in the committed outputs."""
    from mnistlib import tables

    expected = {
        "03_lenet5_vs_mlp": [tables.template_paragraph(full_study), tables.published_table(full_study)],
        "04_regularization": [tables.regularization_headline(full_study),
                              tables.comparison_table(full_study.arm_rows), tables.arm_findings(full_study),
                              tables.targets_table(full_study.targets())],
        "06_why_cnn": [tables.why_cnn_findings(full_study), tables.pair_table(full_study.why_cnn_rows)],
    }
    for name, texts in expected.items():
        outputs = _markdown_outputs(REPO / "notebooks" / f"{name}.ipynb")
        for text in texts:
            assert text in outputs, f"notebooks/{name}.ipynb is stale: run `make report` ({text[:80]!r}...)"


@pytest.mark.full_data
def test_verdict_words_in_readme_match_the_adjusted_test(full_study):
    from mnistlib.publish.readme import README_END, README_START
    from mnistlib.tables import verdict_text

    readme = (REPO / "README.md").read_text()
    block = readme.split(README_START, 1)[1].split(README_END, 1)[0]
    for row in full_study.arm_rows[1:]:
        line = next(line for line in block.splitlines() if line.startswith(f"| {row['label']} |"))
        assert line.rstrip(" |").endswith(verdict_text(row)), line
    assert "proof" not in readme.lower()


def test_every_stored_run_keeps_the_id_its_spec_gives_today():
    """A refactor must not change run ids: a changed id would silently retrain (or orphan) every stored run."""
    from types import SimpleNamespace

    from mnistlib.experiments import RunSpec, run_id
    from mnistlib.io import read_json

    stored = sorted((REPO / "results").rglob("*.json"))
    runs = [(path, read_json(path)) for path in stored]
    runs = [(path, result) for path, result in runs if isinstance(result, dict) and "spec" in result]
    assert len(runs) >= 100, "expected the committed study runs under results/"
    for path, result in runs:
        spec = {**result["spec"], "settings": TrainSettings(**result["spec"]["settings"])}
        identity = {"dataset": "mnist" if result["data"]["full"] else "sample", "n_train": result["data"]["n_train"],
                    "n_test": result["data"]["n_test"]}
        data = SimpleNamespace(identity=lambda identity=identity: identity)
        assert run_id(RunSpec(**spec), result["seed"], data) == result["id"] == path.stem, path
        assert MnistArrays(*(torch.zeros(0),) * 4, "idx", "").identity().keys() == identity.keys()
