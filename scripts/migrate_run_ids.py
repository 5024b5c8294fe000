"""One-off migration (2026-12-01): stored runs get content-keyed ids and a record of the code they ran.

Before, a run id hashed the spec, the seed and the data's kind and sizes; now it hashes the data's content too
(`MnistArrays.identity`, SHA-256 of images and labels in order), and each run records the digests of the code that
determined it (`experiments.code_of`). This script renames every stored run (and its weights) to its new id and
stamps the code record, only after checking that (a) its old id is the one its spec gave under the old rule, so it
really was a full-MNIST run of that spec, and (b) results/reproduction.json shows that today's code retrained one run
of each kind with an identical history and identical test predictions.

    MNIST_MIRROR=../shared/mnist python scripts/migrate_run_ids.py
"""

from __future__ import annotations

import hashlib
import json
import sys

from mnistfiles.io import read_json, write_json
from mnistlib import paths
from mnistlib.data import load_mnist
from mnistlib.experiments import RunSpec, code_of, run_id, weights_path
from mnistlib.probes import probe_key


def legacy_id(spec: RunSpec, seed: int, n_train: int, n_test: int) -> str:
    described = {k: v for k, v in spec.to_dict().items()
                 if k != "label" and not (k == "permutation_seed" and v is None)}
    identity = {"dataset": "mnist", "n_train": n_train, "n_test": n_test}
    key = {"spec": described, "seed": seed, "data": identity}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{spec.name}-seed{seed}-mnist{n_train}-{digest}"


def main() -> int:
    data = load_mnist(source="auto", verbose=False)
    if not data.full:
        sys.exit("needs the full MNIST (MNIST_MIRROR=../shared/mnist)")
    check = read_json(paths.RESULTS_DIR / "reproduction.json")
    if not all(c["history_identical"] and c["predictions_identical"] for c in check["runs"]):
        sys.exit("results/reproduction.json: not every check reproduced; nothing migrated")
    moved, renamed = 0, {}
    for folder in (paths.RESULTS_DIR, paths.RESULTS_DIR / "tuning" / "runs"):
        for path in sorted(folder.glob("*.json")):
            result = read_json(path)
            if not isinstance(result, dict) or "history" not in result or "code" in result:
                continue
            spec, seed = RunSpec.from_dict(result["spec"]), result["seed"]
            if path.stem != legacy_id(spec, seed, data.n_train, data.n_test):
                sys.exit(f"{path}: its id is not the one its spec gave under the old rule; not migrated")
            new = run_id(spec, seed, data)
            result.update(id=new, code=code_of(spec), data={**result["data"], "sha256": data.fingerprint()})
            write_json(path.with_name(f"{new}.json"), result)
            old_weights = weights_path(path.stem, folder)
            if old_weights.exists():
                old_weights.rename(weights_path(new, folder))
            path.unlink()
            renamed[path.stem] = probe_key(result)
            moved += 1
    probes = paths.RESULTS_DIR / "why_cnn" / "robustness.json"  # notebook 6's probes, cached by run
    if probes.exists():
        cache = read_json(probes)
        cache["runs"] = {renamed.get(key, key): value for key, value in cache["runs"].items()}
        write_json(probes, cache)
    print(f"{moved} runs migrated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
