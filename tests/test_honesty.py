"""Tests that would catch a claim the data do not support: training on held-out images, log-probabilities sold as
logits, machine paths in committed files, and committed notebooks whose numbers drifted from results/."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from mnistfiles.io import read_json
from mnistlib import study, tables
from mnistlib.data import MEAN, STD, MnistArrays, train_val_split
from mnistlib.experiments import RunSpec, run_id, stale_reason
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


def _markdown_outputs(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return "\n".join(out["data"]["text/markdown"] for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if "text/markdown" in out.get("data", {}))


@pytest.fixture(scope="module")
def full_data() -> MnistArrays:
    """The full MNIST the committed runs were trained on (the mirror, found as .ci/run finds it)."""
    from mnistlib.data import load_mnist

    data = load_mnist(source="auto", verbose=False)
    if not data.full:
        pytest.skip("needs full MNIST (MNIST_MIRROR or ../shared/mnist) to score the stored predictions")
    return data


@pytest.mark.full_data
def test_committed_notebooks_say_what_results_say(full_data: MnistArrays):
    """Recompute the comparisons of notebooks 3, 4 and 6 from results/ and find them in the committed outputs."""
    truth = full_data.test_labels.numpy()
    template, regularization = study.load("template", full_data), study.load("regularization", full_data)
    why = study.load("why_cnn", full_data) | template
    design = regularization.design
    arms = study.compare(regularization, [(name, design["baseline"]) for name in design["confirmatory"]], truth)
    pairs = [("lenet5_permuted", "mlp_permuted"), ("mlp_permuted", "mlp"), ("lenet5_permuted", "lenet5"),
             ("lenet5_1998", "lenet5")]
    expected = {
        "03_lenet5_vs_mlp": [tables.evidence(study.compare(template, [("lenet5", "mlp")], truth)[0])],
        "04_regularization": [tables.comparison_table(arms)] + [tables.evidence(row) for row in arms],
        "06_why_cnn": [tables.pair_table(study.compare(why, pairs, truth))],
    }
    for name, texts in expected.items():
        outputs = _markdown_outputs(REPO / "notebooks" / f"{name}.ipynb")
        for text in texts:
            assert text in outputs, f"notebooks/{name}.ipynb is stale: run `make report` ({text[:80]!r}...)"


@pytest.mark.full_data
def test_the_best_arm_named_is_the_best_on_validation_from_the_histories(full_data: MnistArrays):
    """Independently of the library's rule: read every confirmatory arm's runs and average the last epoch's
    validation accuracy; the arm notebook 4 (and so README) names must be the highest."""
    manifest = read_json(REPO / "results" / "experiments" / "regularization.json")
    means = {}
    for spec in manifest["specs"]:
        if spec["name"] in manifest["design"]["confirmatory"]:
            runs = [read_json(p) for p in (REPO / "results").glob(f"{spec['name']}-seed*-mnist60000-*.json")]
            assert len(runs) == len(manifest["seeds"]), spec["name"]
            means[spec["name"]] = sum(r["history"][-1]["val_acc"] for r in runs) / len(runs)
    best = max(means, key=means.get)
    assert best == "bn_augmentation"  # the stored study's answer; the exploratory lr arm is not a candidate
    label = next(spec["label"] for spec in manifest["specs"] if spec["name"] == best)
    assert f"**{label}**" in _markdown_outputs(REPO / "notebooks" / "04_regularization.ipynb")


def test_the_tuned_arms_are_the_configurations_validation_chose():
    """Notebook 4's exploratory arm is "all four combined" at the learning rate chosen on validation, and its MLP the
    recipe chosen there: the stored study's specs must be what the tuning records trained (names and labels aside).
    An arm changed after its tuning (notebook 4's DROPOUT, say) fails here, with the way to tune it again."""
    manifest = read_json(REPO / "results" / "experiments" / "regularization.json")
    specs = {spec["name"]: RunSpec.from_dict(spec) for spec in manifest["specs"]}

    def plain(spec: RunSpec, **changes: float) -> RunSpec:
        return replace(spec, name="", label="").with_settings(**changes)

    lr_choice = study.load_decision("lenet_lr")
    minutes = sum(read_json(path)["seconds"] for path in (REPO / "results" / "tuning" / "runs").glob("all_combined*"))
    route = (f"notebook 4's all_combined arm is not the one its learning rate was tuned for: run `python "
             f"scripts/tune_on_validation.py --only lenet_lr` (about {minutes / 60:.0f} CPU minutes), then "
             "`make report`")
    for candidate in lr_choice["candidates"]:
        assert plain(RunSpec.from_dict(candidate["spec"]), lr=0) == plain(specs["all_combined"], lr=0), route
    assert plain(specs["all_combined_tuned_lr"]) == plain(study.winner(lr_choice))
    assert plain(specs["mlp_tuned"]) == plain(study.winner(study.load_decision("mlp_recipe"))), (
        "notebook 4's mlp_tuned is not the recipe chosen on validation: run `python scripts/tune_on_validation.py "
        "--only mlp_recipe`, then `make report`")


def _stored_runs(pattern: str = "**/*.json") -> list[tuple[Path, dict]]:
    runs = [(path, read_json(path)) for path in sorted((REPO / "results").glob(pattern))]
    runs = [(path, result) for path, result in runs if isinstance(result, dict) and "history" in result]
    assert len(runs) >= 100, "expected the committed study runs under results/"
    return runs


def test_every_stored_run_keeps_the_id_its_spec_and_data_give_today():
    """A refactor must not change run ids: a changed id would silently retrain (or orphan) every stored run."""
    from types import SimpleNamespace

    for path, result in _stored_runs():
        identity = {"dataset": "mnist" if result["data"]["full"] else "sample", "n_train": result["data"]["n_train"],
                    "n_test": result["data"]["n_test"], "sha256": result["data"]["sha256"]}
        data = SimpleNamespace(identity=lambda identity=identity: identity)
        assert run_id(RunSpec.from_dict(result["spec"]), result["seed"], data) == result["id"] == path.stem, path
    assert MnistArrays(*(torch.zeros(0),) * 4, "idx", "").identity().keys() == identity.keys()


def test_every_stored_run_is_current_with_the_committed_code():
    """The committed numbers came from the committed code: a change to a model, the loop, the batching or the
    augmentation without retraining (`make report`) fails here, naming the runs and the code. The tuning runs under
    results/tuning/ are the record of past decisions: `make report` never retrains them."""
    stale = [(path.stem, why, result["seconds"]) for path, result in _stored_runs("*.json")
             if (why := stale_reason(result, RunSpec.from_dict(result["spec"])))]
    minutes = sum(seconds for *_, seconds in stale) / 60
    assert not stale, (f"{len(stale)} stored runs are stale, e.g. {stale[:3]}: run `make report` to retrain them "
                       f"(about {minutes:.0f} CPU minutes; `make quick-report` first checks the change in a minute)")


def test_the_reproduction_check_before_the_migration_is_recorded():
    """The stored runs were stamped with today's code only after one run of each kind retrained identically."""
    record = read_json(REPO / "results" / "reproduction.json")
    kinds = {check["run"].split("-seed")[0] for check in record["runs"] if check["history_identical"]
             and check["predictions_identical"]}
    assert {"lenet5", "mlp", "baseline", "all_combined", "mlp_tuned", "lenet5_1998", "mlp_permuted"} <= kinds
