"""The training loop on real digits: losses are sample means, runs repeat, resume is exact, NaN stops."""

from pathlib import Path

import pytest
import torch
from conftest import RunsCode
from torch import nn

from mnistlib import experiments
from mnistlib.data import MnistArrays, TensorBatches
from mnistlib.experiments import RunSpec, run, sweep
from mnistlib.models import CustomMLP, LeNet5
from mnistlib.training import TrainingDiverged, TrainSettings, fit, select_device, test, train


def subset(data: MnistArrays, n_train: int, n_test: int) -> MnistArrays:
    return MnistArrays(
        data.train_images[:n_train], data.train_labels[:n_train],
        data.test_images[:n_test], data.test_labels[:n_test],
        source=data.source, origin=data.origin,
    )


def without_seconds(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


class ConstantLogits(nn.Module):
    """Ignores the image: the loss of every sample is known in closed form."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))

    def forward(self, x):
        return self.logits.expand(x.shape[0], 10)


def test_test_loss_is_the_mean_over_samples_with_a_ragged_last_batch():
    labels = torch.tensor([0, 0, 0, 1, 2, 3, 4])  # batches of 3: [3, 3, 1], last one smaller
    images = torch.zeros(7, 1, 28, 28)
    loader = [(images[i:i + 3], labels[i:i + 3]) for i in range(0, 7, 3)]
    model = ConstantLogits()
    expected = nn.functional.cross_entropy(model(images), labels).item()
    loss, acc = test(model, loader, "cpu", nn.CrossEntropyLoss())
    assert loss == pytest.approx(expected, rel=1e-6)
    assert acc == pytest.approx(3 / 7)


def test_train_returns_mean_loss_and_accuracy(sample_data):
    data = subset(sample_data, 640, 100)
    torch.manual_seed(0)
    model = CustomMLP()
    batches = TensorBatches(data.train_images, data.train_labels, batch_size=100, shuffle=True, seed=0)
    loss, acc = train(model, batches, "cpu", nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.01))
    assert 0.5 < loss < 2.5  # near ln(10) = 2.30 for a fresh model, falling
    assert 0.0 <= acc <= 1.0


def test_short_real_run_learns(sample_data):
    torch.manual_seed(0)
    history = fit(LeNet5(), sample_data, TrainSettings(epochs=4), seed=0, device="cpu", progress="none")
    losses = [record["train_loss"] for record in history]
    assert losses[-1] < losses[0] / 2
    assert history[-1]["test_acc"] > 0.90
    assert set(history[-1]) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "lr"}


def test_same_seed_repeats_exactly_on_cpu(sample_data):
    data = subset(sample_data, 1000, 200)
    settings = TrainSettings(epochs=2, augment=True)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(without_seconds(fit(LeNet5(dropout=0.3), data, settings, seed=3, device="cpu", progress="none")))
    assert runs[0] == runs[1]
    torch.manual_seed(4)
    other = without_seconds(fit(LeNet5(dropout=0.3), data, settings, seed=4, device="cpu", progress="none"))
    assert other != runs[0]


def test_resume_after_interruption_equals_uninterrupted(sample_data, tmp_path):
    data = subset(sample_data, 1000, 200)
    settings = TrainSettings(epochs=3, augment=True, lr_schedule="cosine")
    torch.manual_seed(1)
    straight = fit(LeNet5(dropout=0.2), data, settings, seed=1, device="cpu", progress="none")

    checkpoint = tmp_path / "run.pt"

    def stop_after_epoch_two(line):
        if line.startswith("epoch   2/"):
            raise KeyboardInterrupt

    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        fit(LeNet5(dropout=0.2), data, settings, seed=1, device="cpu", checkpoint=checkpoint, progress="epoch",
            log=stop_after_epoch_two)
    assert checkpoint.exists()
    torch.manual_seed(99)  # a fresh process would start from other weights: the checkpoint must override them
    resumed = fit(LeNet5(dropout=0.2), data, settings, seed=1, device="cpu", checkpoint=checkpoint,
                  progress="epoch", log=lambda line: None)
    assert without_seconds(resumed) == without_seconds(straight)
    assert not list(tmp_path.glob("*.tmp"))


def test_checkpoint_of_another_run_is_refused(sample_data, tmp_path):
    data = subset(sample_data, 200, 100)
    checkpoint = tmp_path / "run.pt"
    fit(LeNet5(), data, TrainSettings(epochs=1), seed=0, device="cpu", checkpoint=checkpoint, progress="none")
    with pytest.raises(RuntimeError, match="different run"):
        fit(LeNet5(), data, TrainSettings(epochs=1), seed=5, device="cpu", checkpoint=checkpoint, progress="none")


def plant(path, marker, extra=None):
    torch.save({**(extra or {}), "model": {"weight": torch.zeros(1)}, "payload": RunsCode(marker)}, path)
    torch.load(path, weights_only=False)  # the plant is live: the unsafe loader runs its code
    assert marker.exists()
    marker.unlink()


def test_planted_checkpoint_is_refused_without_running_its_code(sample_data, tmp_path, capsys):
    """Issue 12.7: checkpoints were read with weights_only=False, which runs any code a planted file carries."""
    data = subset(sample_data, 200, 100)
    checkpoint, marker = tmp_path / "run.pt", tmp_path / "code-ran"
    plant(checkpoint, marker)
    history = fit(CustomMLP(), data, TrainSettings(epochs=1), device="cpu", checkpoint=checkpoint, progress="none")
    assert not marker.exists()
    err = capsys.readouterr().err
    assert f"checkpoint {checkpoint} is unreadable" in err and "could run code, refused" in err
    assert "starting the run over" in err and len(history) == 1
    assert [p.name.split("-")[0] for p in tmp_path.glob("run.pt.unreadable-*")] == ["run.pt.unreadable"]
    assert torch.load(checkpoint, weights_only=True)["format"] == 2  # the run's own checkpoint replaced it


def test_corrupt_checkpoint_is_set_aside_and_the_run_starts_over(sample_data, tmp_path, capsys):
    """Issue 12.6: a truncated checkpoint gave a traceback; now it is kept aside and the run starts afresh."""
    data = subset(sample_data, 200, 100)
    settings = TrainSettings(epochs=2)
    checkpoint = tmp_path / "run.pt"
    fit(CustomMLP(), data, settings, device="cpu", checkpoint=checkpoint, progress="none")
    blob = checkpoint.read_bytes()
    checkpoint.write_bytes(blob[: len(blob) // 2])
    torch.manual_seed(0)
    straight = fit(CustomMLP(), data, settings, seed=3, device="cpu", progress="none")
    torch.manual_seed(0)
    again = fit(CustomMLP(), data, settings, seed=3, device="cpu", checkpoint=checkpoint, progress="none")
    assert "is unreadable" in capsys.readouterr().err
    assert without_seconds(again) == without_seconds(straight)
    aside = list(tmp_path.glob("run.pt.unreadable-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == len(blob) // 2


def test_every_torch_load_in_the_package_is_weights_only():
    package = Path(experiments.__file__).parent
    calls = [(p.name, line.strip()) for p in package.rglob("*.py") for line in p.read_text().splitlines()
             if "torch.load(" in line]
    assert calls and all("weights_only=True" in line for _, line in calls), calls


def test_planted_weights_file_is_refused(sample_data, tmp_path):
    data = subset(sample_data, 200, 100)
    result = run(RunSpec("w", model="mlp", settings=TrainSettings(epochs=1)), 0, data, tmp_path, progress="none",
                 keep_weights=True)
    marker = tmp_path / "code-ran"
    plant(experiments.weights_path(result, tmp_path), marker)
    with pytest.raises(ValueError, match="cannot load weights") as err:
        experiments.load_weights(result, tmp_path)
    assert str(experiments.weights_path(result, tmp_path)) in str(err.value) and not marker.exists()


def test_nan_loss_stops_with_a_clear_message(sample_data):
    class Broken(CustomMLP):
        def forward(self, img):
            return super().forward(img) * float("nan")

    with pytest.raises(TrainingDiverged, match="diverged"):
        fit(Broken(), subset(sample_data, 128, 100), TrainSettings(epochs=1), device="cpu", progress="none")


def test_augmentation_never_touches_test_data(sample_data, monkeypatch):
    from mnistlib import augment

    data = subset(sample_data, 300, 200)
    seen = []
    original = augment.random_affine

    def recording(x, *args, **kwargs):
        seen.append(x.shape[0])
        return original(x, *args, **kwargs)

    monkeypatch.setattr(augment, "random_affine", recording)
    fit(LeNet5(), data, TrainSettings(epochs=2, augment=True, batch_size=64), device="cpu", progress="none")
    assert sum(seen) == 2 * 300  # every training image once per epoch, no test image ever


def test_validation_split_is_held_out_and_test_scored_once(sample_data):
    data = subset(sample_data, 1000, 200)
    settings = TrainSettings(epochs=2, val_size=200, test_every_epoch=False)
    history = fit(LeNet5(), data, settings, device="cpu", progress="none")
    assert "test_acc" not in history[0] and "val_acc" in history[0]
    assert "test_acc" in history[-1]


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device(None).type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_run_is_stored_and_never_trained_twice(sample_data, tmp_path, monkeypatch):
    data = subset(sample_data, 300, 100)
    spec = RunSpec("mlp-test", model="mlp", settings=TrainSettings(epochs=1))
    first = run(spec, 0, data, tmp_path, progress="none")
    stored = list(tmp_path.glob("*.json"))
    assert [p.name for p in stored] == [f"{first['id']}.json"]
    assert len(first["test_predictions"]) == 100 and first["data"]["source"] == "sample"

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(experiments, "fit", no_training)
    assert run(spec, 0, data, tmp_path)["final_test_acc"] == first["final_test_acc"]


def test_interrupted_sweep_resumes_where_it_stopped(sample_data, tmp_path, monkeypatch):
    data = subset(sample_data, 300, 100)
    specs = [RunSpec("a", model="mlp", settings=TrainSettings(epochs=1)),
             RunSpec("b", model="mlp", settings=TrainSettings(epochs=1, weight_decay=1e-3))]
    real_fit = experiments.fit
    calls = []

    def failing_third(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(experiments, "fit", failing_third)
    with pytest.raises(KeyboardInterrupt):
        sweep(specs, [0, 1], data, tmp_path, log=None)
    assert len(list(tmp_path.glob("*.json"))) == 2
    calls.clear()
    monkeypatch.setattr(experiments, "fit", lambda *a, **k: (calls.append(k["seed"]), real_fit(*a, **k))[1])
    results = sweep(specs, [0, 1], data, tmp_path, log=None)
    assert len(calls) == 2  # only the two unfinished runs trained
    assert [(r["name"], r["seed"]) for r in results] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
