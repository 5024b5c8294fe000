"""README's generated blocks: the results block is what the notebooks' cells tagged `readme` show, the performance
block what the benchmarks stored."""

import nbformat

from mnistfiles.io import write_json
from mnistlib import paths
from mnistlib.tables import markdown_table
from mnistreport.readme import (
    BENCH_END,
    BENCH_START,
    README_END,
    README_START,
    bench_block,
    readme_block,
    update_readme,
)


def test_markdown_table():
    text = markdown_table([{"a": 1, "b": "x|y"}, {"a": 2, "b": "y"}], {"a": "A", "b": "B"})
    assert text.splitlines() == ["| A | B |", "| --- | --- |", "| 1 | x\\|y |", "| 2 | y |"]


def test_update_readme_rewrites_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold numbers\n{README_END}\noutro\n")
    assert update_readme(readme, "new numbers")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old numbers" not in text
    assert "new numbers" in text
    assert not update_readme(readme, "new numbers")  # second time: nothing to change


def test_committed_readme_says_what_the_committed_notebooks_show():
    text = (paths.ROOT / "README.md").read_text()
    block = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert block == readme_block().strip(), "README's results block is stale: run `python -m mnistreport readme`"


def test_the_readme_cells_of_the_notebooks_are_the_headline_tables():
    tagged = {path.name: [c for c in nbformat.read(path, as_version=4).cells if "readme" in c.metadata.get("tags", [])]
              for path in sorted((paths.ROOT / "notebooks").glob("0[3-6]_*.ipynb"))}
    assert all(tagged[name] for name in ("03_lenet5_vs_mlp.ipynb", "04_regularization.ipynb", "06_why_cnn.ipynb"))


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
    assert update_readme(readme, "results", bench_dir=tmp_path)
    text = readme.read_text()
    assert "stale" not in text and "| plain | 64 | 8.00 |" in text and text.endswith("end\n")


def test_committed_readme_matches_committed_benchmarks():
    text = (paths.ROOT / "README.md").read_text()
    block = text.split(BENCH_START, 1)[1].split(BENCH_END, 1)[0].strip()
    assert block == bench_block().strip(), "README performance block is stale: python -m mnistreport readme"


def test_bench_block_shows_the_newest_measurement_per_machine(tmp_path):
    old = _bench_payload("cpu", [("template", 40.0), ("plain", 8.0), ("mnistlib", 4.0)])
    new = {**_bench_payload("cpu", [("template", 30.0), ("plain", 6.0), ("mnistlib", 2.0)]),
           "started": "2026-12-01T10:00:00+0000"}
    write_json(tmp_path / "results-cpu.json", old)
    write_json(tmp_path / "results-cpu-x86-2026-12-01.json", new)
    block = bench_block(tmp_path)
    assert "| mnistlib | 64 | 2.00 |" in block and "| mnistlib | 64 | 4.00 |" not in block
    write_json(tmp_path / "results-cpu-x86-2026-12-01.json", {**new, "machine": {**new["machine"], "cpu": "Other"}})
    assert "| mnistlib | 64 | 2.00 |" in bench_block(tmp_path) and "| mnistlib | 64 | 4.00 |" in bench_block(tmp_path)
