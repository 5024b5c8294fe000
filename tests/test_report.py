"""README's numbers come from results/: the generated block must match what the stored runs say."""

from mnistlib.io import write_json
from mnistlib.report import README_END, README_START, REPO, markdown_table, readme_block, update_readme


def fake_run(name: str, seed: int, acc: float, params: int = 61706) -> dict:
    return {"id": f"{name}-{seed}", "name": name, "seed": seed, "final_test_acc": acc, "parameters": params,
            "data": {"full": True}, "history": [{"epoch": 1}, {"epoch": 2}]}


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
