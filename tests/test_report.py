"""README's numbers come from results/: the generated block must match what the stored runs say."""

from mnistlib.io import write_json
from mnistlib.report import (
    BENCH_END,
    BENCH_START,
    README_END,
    README_START,
    REPO,
    bench_block,
    markdown_table,
    readme_block,
    update_readme,
)
from mnistlib.study import comparison_specs, regularization_arms, tuned_mlp_spec

SPECS = {spec.name: spec.to_dict() for spec in [*comparison_specs(), *regularization_arms(), tuned_mlp_spec()]}


def fake_run(name: str, seed: int, acc: float, params: int = 61706) -> dict:
    return {"id": f"{name}-{seed}", "name": name, "seed": seed, "final_test_acc": acc, "parameters": params,
            "spec": SPECS[name], "data": {"full": True}, "history": [{"epoch": 1}, {"epoch": 2}]}


def test_markdown_table():
    text = markdown_table([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], {"a": "A", "b": "B"})
    assert text.splitlines() == ["| A | B |", "| --- | --- |", "| 1 | x |", "| 2 | y |"]


def test_readme_block_is_computed_from_results(tmp_path):
    for seed, (lenet, mlp) in enumerate([(0.990, 0.975), (0.992, 0.977)]):
        write_json(tmp_path / f"l{seed}.json", fake_run("lenet5", seed, lenet))
        write_json(tmp_path / f"m{seed}.json", fake_run("mlp", seed, mlp, params=61670))
    for seed, (base, bn) in enumerate([(0.990, 0.993), (0.991, 0.994), (0.989, 0.993)]):
        write_json(tmp_path / f"b{seed}.json", fake_run("baseline", seed, base))
        write_json(tmp_path / f"n{seed}.json", fake_run("batch_norm", seed, bn))
    block = readme_block(tmp_path)
    assert "LeNet-5 (61,706 parameters) reaches **99.10% ± 0.14**" in block
    assert "CustomMLP (61,670 parameters) **97.60% ± 0.14**" in block
    assert "| Batch norm | 3 | 99.33% |" in block and "helps" in block


def test_update_readme_rewrites_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold numbers\n{README_END}\noutro\n")
    assert update_readme(readme, tmp_path / "no-results")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old numbers" not in text
    assert not update_readme(readme, tmp_path / "no-results")  # second time: nothing to change


def test_committed_readme_matches_committed_results():
    text = (REPO / "README.md").read_text()
    block = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert block == readme_block().strip(), "README's results block is stale: run `python -m mnistlib.report --readme`"


def _bench_payload(device: str, rows: list[tuple[str, float]]) -> dict:
    template = rows[0][1]
    plain = dict(rows)["plain"]
    return {
        "started": "2026-11-24T10:00:00+0000",
        "machine": {"cpu": "Test CPU", "cores_usable": 2, "torch": "2.14.1", "torch_threads": 2},
        "settings": {},
        "rows": [{"pipeline": name, "device": device, "batch_size": 64, "seconds_per_epoch": s,
                  "images_per_s": 70000 / s, "x_vs_template": template / s, "x_vs_plain": plain / s,
                  "test_acc": 0.98, "epochs": [{}, {}], "extrapolated": False, "batches_timed": None}
                 for name, s in rows],
        "targets": ["target cpu batch 64: mnistlib >= 5.0x template: 10.00x, met"],
    }


def test_bench_block_renders_the_stored_tables(tmp_path):
    write_json(tmp_path / "results-cpu.json", _bench_payload("cpu", [("template", 40.0), ("plain", 8.0),
                                                                     ("mnistlib", 4.0)]))
    block = bench_block(tmp_path)
    assert "**cpu**: Test CPU, 2 cores; torch 2.14.1, 2 threads" in block
    assert "| mnistlib | 64 | 4.00 | 17,500 | 10.0x | 2.00x | 98.00% |" in block
    assert "- target cpu batch 64: mnistlib >= 5.0x template: 10.00x, met" in block
    assert "No benchmark results" in bench_block(tmp_path / "none")


def test_update_readme_rewrites_the_bench_block_too(tmp_path):
    write_json(tmp_path / "results-cpu.json", _bench_payload("cpu", [("template", 40.0), ("plain", 8.0)]))
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\nperf\n{BENCH_START}\nstale\n{BENCH_END}\nend\n")
    assert update_readme(readme, tmp_path / "no-results", bench_dir=tmp_path)
    text = readme.read_text()
    assert "stale" not in text and "| plain | 64 | 8.00 |" in text and text.endswith("end\n")


def test_committed_readme_matches_committed_benchmarks():
    text = (REPO / "README.md").read_text()
    block = text.split(BENCH_START, 1)[1].split(BENCH_END, 1)[0].strip()
    assert block == bench_block().strip(), "README performance block is stale: python -m mnistlib.report --readme"
