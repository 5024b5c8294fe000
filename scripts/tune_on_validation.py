"""Choose the learning rate (and, for CustomMLP, augmentation) of the tuned arms on the validation split only.

Each candidate trains seed 0 for the study's epochs with 5,000 training images held out; the candidate with the
highest final validation accuracy wins. Test accuracy is dropped from the record, so it cannot steer the choice.
The record goes to results/tuning/validation.json (atomically); study.py names the winners and points here.

    MNIST_MIRROR=../shared/mnist python scripts/tune_on_validation.py [--only mlp|lenet5]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from mnistlib.data import load_mnist
from mnistlib.experiments import RunSpec
from mnistlib.io import read_json, write_json
from mnistlib.models import build_model
from mnistlib.study import DROPOUT, FULL_EPOCHS, VAL_SIZE, WEIGHT_DECAY
from mnistlib.training import TrainSettings, fit, seed_everything

BASE = TrainSettings(epochs=FULL_EPOCHS, lr_schedule="cosine", val_size=VAL_SIZE, test_every_epoch=False)
CANDIDATES = {
    "mlp": [
        RunSpec(f"mlp lr {lr:g}{' aug' if aug else ''}", model="mlp", settings=replace(BASE, lr=lr, augment=aug))
        for lr in (0.01, 0.05, 0.1) for aug in (False, True)
    ] + [  # an MLP learns augmented digits more slowly than a CNN: also try twice the epochs
        RunSpec(f"mlp lr {lr:g} aug {2 * FULL_EPOCHS} epochs", model="mlp",
                settings=replace(BASE, lr=lr, augment=True, epochs=2 * FULL_EPOCHS))
        for lr in (0.02, 0.05)
    ],
    "lenet5": [
        RunSpec(f"all_combined lr {lr:g}", batch_norm=True, dropout=DROPOUT,
                settings=replace(BASE, lr=lr, weight_decay=WEIGHT_DECAY, augment=True))
        for lr in (0.01, 0.05, 0.1)
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(CANDIDATES), default=None)
    parser.add_argument("--out", default="results/tuning/validation.json")
    args = parser.parse_args()
    data = load_mnist(source="auto")
    try:
        record = read_json(args.out)
    except FileNotFoundError:
        record = {}
    for family, specs in CANDIDATES.items():
        if args.only and family != args.only:
            continue
        for spec in specs:
            if spec.name in record:
                continue
            seed_everything(0)
            model = build_model(spec.model, batch_norm=spec.batch_norm, dropout=spec.dropout)
            start = time.perf_counter()
            history = fit(model, data, spec.settings, seed=0, device="cpu", progress="none", log=None)
            record[spec.name] = {
                "family": family,
                "spec": spec.to_dict(),
                "val_acc": history.column("val_acc"),
                "final_val_acc": history.final["val_acc"],
                "seconds": time.perf_counter() - start,
            }
            print(f"{spec.name:<28} val acc {history.final['val_acc']:.4f}  ({record[spec.name]['seconds']:.0f} s)",
                  flush=True)
            write_json(args.out, record)
    for family in CANDIDATES:
        entries = {k: v for k, v in record.items() if v["family"] == family}
        if entries:
            best = max(entries, key=lambda k: entries[k]["final_val_acc"])
            print(f"{family}: best on validation = {best} ({entries[best]['final_val_acc']:.4f})")


if __name__ == "__main__":
    main()
