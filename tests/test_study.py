"""Experiments as notebooks state them: trained or loaded, recorded for later notebooks, compared by the design fixed
in advance, the best arm picked on validation; and a change to the code shows: stale runs are said and retrained."""

from __future__ import annotations

import math
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ARMS

from mnistfiles.io import read_json, write_json
from mnistlib import experiments, stats, study
from mnistlib.data import MnistArrays
from mnistlib.experiments import RunSpec, run_id
from mnistlib.fingerprint import code_digests
from mnistlib.training import TrainSettings

REPO = Path(__file__).resolve().parent.parent


def _train(data: MnistArrays, results: Path, **kwargs) -> study.Experiment:
    return study.train("arms", ARMS, range(4), data, results, log=None,
                       design={"baseline": "baseline", "confirmatory": [a.name for a in ARMS[1:]]}, **kwargs)


def test_best_arm_is_picked_on_validation_not_test(planted):
    runs = _train(*planted)
    rows = study.compare(runs, [(arm.name, "baseline") for arm in ARMS[1:]], planted[0].test_labels.numpy())
    assert max(rows, key=lambda row: row["mean"])["arm"] == "augmentation"
    assert study.best_arm(runs, [arm.name for arm in ARMS[1:]]) == "dropout"  # the rule reads validation only


def test_best_arm_refuses_a_candidate_without_a_validation_accuracy(planted):
    """The old rule let a NaN win: a run that lacks its validation accuracy must stop the choice, naming it."""
    runs = _train(*planted)
    runs.runs["dropout"][2]["history"][-1]["val_acc"] = float("nan")
    with pytest.raises(ValueError, match="dropout"):
        study.best_arm(runs, ["batch_norm", "dropout"])
    del runs.runs["batch_norm"][0]["history"][-1]["val_acc"]
    with pytest.raises(ValueError, match="no validation split"):
        study.best_arm(runs, ["batch_norm"])


def test_comparisons_are_paired_by_design_and_adjusted_as_one_family(planted):
    runs = _train(*planted)
    pairs = [(arm.name, "baseline") for arm in ARMS[1:]]
    rows = study.compare(runs, pairs, planted[0].test_labels.numpy())
    assert [row["design"] for row in rows] == ["paired"] * 3 and {row["family"] for row in rows} == {3}
    assert [row["p_adjusted"] for row in rows] == stats.holm_adjust([row["p_value"] for row in rows])
    for row in rows:
        assert row["label"] == runs.label(row["arm"]) and row["baseline_label"] == "Baseline"
        assert row["verdict"] in (stats.HELPS, stats.HURTS, stats.HELPS_THIS_TEST_SET, stats.HURTS_THIS_TEST_SET,
                                  stats.NO_DIFFERENCE)


def test_too_few_seeds_give_means_but_no_test(planted):
    data, results = planted
    runs = study.train("two", ARMS[:2], range(2), data, results, log=None)
    (row,) = study.compare(runs, [("batch_norm", "baseline")], data.test_labels.numpy())
    assert row["untested"] and row["n"] == 2 and "p_value" not in row and "verdict" not in row


def test_a_later_notebook_loads_the_recorded_experiment(planted):
    data, results = planted
    trained = _train(data, results)
    manifest = results / "experiments" / "arms.json"
    before = manifest.stat().st_mtime_ns
    _train(data, results)  # the same experiment again: the record is not rewritten (quiet in git)
    assert manifest.stat().st_mtime_ns == before
    loaded = study.load("arms", data, results)
    assert loaded.design == trained.design and loaded.runs == trained.runs
    assert loaded.label("dropout") == "Dropout"
    with pytest.raises(FileNotFoundError, match="no experiment 'nothing' recorded"):
        study.load("nothing", data, results)


def test_a_run_whose_code_changed_is_stale_everywhere(planted):
    """A later notebook never reads a stale run as current; the error says which runs and which code."""
    data, results = planted
    _train(data, results)
    path = results / f"{run_id(ARMS[1], 2, data)}.json"
    stored = read_json(path)
    stored["code"]["mnistlib.models.LeNet5"] = "0" * 12
    write_json(path, stored)
    with pytest.raises(FileNotFoundError, match=r"batch_norm seed 2: code changed: models\.LeNet5"):
        study.load("arms", data, results)


def test_a_stale_run_is_retrained_after_saying_why(sample_data: MnistArrays, tmp_path: Path):
    data = MnistArrays(sample_data.train_images[:300], sample_data.train_labels[:300],
                       sample_data.test_images[:100], sample_data.test_labels[:100], "sample", "")
    spec = RunSpec("mlp", model="mlp", settings=TrainSettings(epochs=1))
    first = experiments.sweep([spec], [0], data, tmp_path, log=None)[0]
    lines: list[str] = []
    assert experiments.sweep([spec], [0], data, tmp_path, log=lines.append)[0] == first and not lines
    path = tmp_path / f"{first['id']}.json"
    write_json(path, {**first, "code": {**first["code"], "mnistlib.training.train": "0" * 12}})
    again = experiments.sweep([spec], [0], data, tmp_path, log=lines.append)[0]
    assert "mlp seed 0: code changed: training.train" in "\n".join(lines)
    assert again["code"] == experiments.code_of(spec) and again["history"][0]["train_loss"] == pytest.approx(
        first["history"][0]["train_loss"])


def test_run_ids_follow_the_data_content_not_only_its_size(sample_data: MnistArrays):
    data = MnistArrays(sample_data.train_images[:300], sample_data.train_labels[:300],
                       sample_data.test_images[:100], sample_data.test_labels[:100], "sample", "")
    order = torch.arange(99, -1, -1)
    reordered = replace(data, test_images=data.test_images[order], test_labels=data.test_labels[order])
    spec = RunSpec("mlp", model="mlp")
    assert run_id(spec, 0, data) != run_id(spec, 0, reordered)
    assert run_id(spec, 0, data) == run_id(spec, 0, MnistArrays.from_numpy(data.to_numpy()))
    assert run_id(spec, 0, data) == run_id(replace(spec, label="another label"), 0, data)


def _module(tmp_path: Path, name: str, source: str):
    from conftest import import_script

    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return import_script(path)


def test_the_code_fingerprint_ignores_comments_docstrings_and_hints_only(tmp_path: Path):
    base = _module(tmp_path, "net_a", '''
        class Net:
            def forward(self, x):
                return x + 1
        ''').Net
    commented = _module(tmp_path, "net_b", '''
        class Net:
            """A docstring."""

            def forward(self, x: int) -> int:  # a comment
                """Another one."""
                return x + 1
        ''').Net
    changed = _module(tmp_path, "net_c", '''
        class Net:
            def forward(self, x):
                return x + 2
        ''').Net

    def digest(cls: type) -> str:
        return next(iter(code_digests([cls]).values()))

    assert digest(base) == digest(commented) != digest(changed)


def test_each_run_records_the_code_of_its_own_model_loop_and_augmentation():
    lenet, mlp = RunSpec("a"), RunSpec("b", model="mlp")
    augmented = RunSpec("c", settings=TrainSettings(augment=True))
    assert "mnistlib.models.LeNet5" in experiments.code_of(lenet)
    assert "mnistlib.models.LeNet5" not in experiments.code_of(mlp)
    assert "mnistlib.augment.RandomAffine" in experiments.code_of(augmented)
    assert "mnistlib.augment.RandomAffine" not in experiments.code_of(lenet)
    for name in ("mnistlib.training.train", "mnistlib.training.test", "mnistlib.data.batches.TensorBatches",
                 "mnistlib.data.batches.MEAN"):
        assert name in experiments.code_of(mlp)
    assert not any("select_device" in name or "checkpoint" in name for name in experiments.code_of(mlp))


def test_two_specs_with_one_name_are_refused(planted):
    data, results = planted
    with pytest.raises(ValueError, match="share a name .baseline."):
        experiments.sweep([ARMS[0], replace(ARMS[1], name="baseline")], [0], data, results, log=None)


def test_the_planning_sd_pools_the_validation_candidates():
    record = {"candidates": [{"val_acc": [0.1, 0.2, 0.3]}, {"val_acc": [0.5, 0.5, 0.5]}]}
    assert study.planning_sd(record) == pytest.approx(math.sqrt((0.01 + 0.0) / 2))


def test_every_validation_record_names_the_winner_by_its_rule(tuning):
    for name in ("mlp_shape", "lenet_lr", "mlp_recipe"):
        record = study.load_decision(name, REPO / "results" / "tuning")
        assert len(record["seeds"]) >= 3 and record["val_size"] == study.VAL_SIZE
        assert "test" not in str([c["spec"] for c in record["candidates"]]).replace("test_every_epoch", "")
        means = {c["name"]: c["mean_val_acc"] for c in record["candidates"]}
        assert record["winner"] == tuning.winner({k: {"mean": v} for k, v in means.items()})
        assert study.winner(record).name == record["winner"]
        assert np.mean(next(c["val_acc"] for c in record["candidates"] if c["name"] == record["winner"])) == \
            pytest.approx(means[record["winner"]])


def test_tuning_winner_breaks_exact_ties_by_grid_order(tuning):
    assert tuning.winner({"a": {"mean": 0.98}, "b": {"mean": 0.99}, "c": {"mean": 0.99}}) == "b"


def test_an_interrupted_run_is_not_resumed_once_its_code_changed(sample_data: MnistArrays, tmp_path: Path,
                                                                  monkeypatch, capsys):
    """A checkpoint holds epochs of the code it was trained with: after a code change the run starts over."""
    import mnistlib.training as training

    data = MnistArrays(sample_data.train_images[:300], sample_data.train_labels[:300],
                       sample_data.test_images[:100], sample_data.test_labels[:100], "sample", "")
    spec = RunSpec("mlp", model="mlp", settings=TrainSettings(epochs=2))

    def interrupt(record, epochs):  # after epoch 1's checkpoint is written
        raise KeyboardInterrupt

    def resumed(code: dict[str, str], results: Path) -> bool:
        monkeypatch.setattr(training, "format_epoch", interrupt)
        try:  # (pytest.raises does not take KeyboardInterrupt)
            experiments.run(spec, 0, data, results)
            pytest.fail("the run was not interrupted")
        except KeyboardInterrupt:
            pass
        monkeypatch.undo()
        monkeypatch.setattr(experiments, "code_of", lambda s: code)
        capsys.readouterr()
        experiments.run(spec, 0, data, results, retrain=True, resume=True)
        monkeypatch.undo()
        return "resuming from" in capsys.readouterr().out

    today = experiments.code_of(spec)
    assert resumed(today, tmp_path / "same")
    assert not resumed({**today, "mnistlib.training.train": "0" * 12}, tmp_path / "changed")


def test_a_paired_test_needs_enough_shared_seeds(planted):
    data, results = planted
    runs = _train(data, results)
    runs.runs["dropout"] = [r for r in runs.runs["dropout"] if r["seed"] != 0]  # seeds 1-3
    runs.runs["baseline"] = [r for r in runs.runs["baseline"] if r["seed"] != 3]  # seeds 0-2: 2 shared
    (row,) = study.compare(runs, [("dropout", "baseline")], data.test_labels.numpy())
    assert row["untested"] and row["n"] == 2
