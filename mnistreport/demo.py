"""A live demo for class: draw a digit, LeNet-5 and CustomMLP answer in the page, offline.

`demo_html` returns one self-contained HTML fragment (markup, CSS, the JavaScript of mnistreport/demo.js and the
trained weights as base64 float32), so the same output works as a notebook cell in JupyterLab, in the exported
report and on its own slide of the reveal.js deck. Inference is plain JavaScript (conv, ReLU, max pool, linear,
softmax); each model travels as a short program of those layers plus one block of weights.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import itertools
import json
import sys
import tempfile
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistfiles.io import atomic_open, atomic_path, error_line, read_json
from mnistlib import paths
from mnistlib.experiments import checked_run, load_weights, weights_path
from mnistlib.models import CustomMLP, LeNet5, PartialConv2d

ModelOrRun = nn.Module | dict[str, Any]


class _Packer:
    """Collects tensors into one float32 block; each op refers to its tensors as [offset, length]."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, tensor: torch.Tensor) -> list[int]:
        flat = tensor.detach().cpu().contiguous().to(torch.float32).numpy().ravel()  # NCHW / (out, in) order
        self.parts.append(flat)
        self.size += flat.size
        return [self.size - flat.size, int(flat.size)]

    def base64(self) -> str:
        return base64.b64encode(np.concatenate(self.parts).astype("<f4").tobytes()).decode("ascii")


def _conv(packer: _Packer, layer: nn.Module, pad: int = 0) -> dict[str, Any]:
    weight = layer.full_weight() if isinstance(layer, PartialConv2d) else layer.weight
    return {"op": "conv", "shape": list(weight.shape), "pad": pad, "w": packer.add(weight), "b": packer.add(layer.bias)}


def _linear(packer: _Packer, layer: nn.Linear) -> dict[str, Any]:
    return {"op": "linear", "shape": list(layer.weight.shape), "w": packer.add(layer.weight),
            "b": packer.add(layer.bias)}


def lenet5_program(model: LeNet5, packer: _Packer) -> list[dict[str, Any]]:
    """LeNet-5's forward pass as layer ops; batch norm is refused (the demo shows the template model)."""
    if getattr(model, "batch_norm", False):
        raise ValueError("the demo runs the template LeNet-5; batch norm is not implemented in its JavaScript")
    if model.c1.padding != (2, 2) or model.c1.weight.shape[0] != 6:
        raise ValueError("the demo expects LeNet-5's C1: 6 maps, 5x5, padding 2")
    return [
        _conv(packer, model.c1, pad=2), {"op": "relu", "keep": "c1"}, {"op": "pool"},
        _conv(packer, model.c3), {"op": "relu"}, {"op": "pool"},
        _conv(packer, model.c5), {"op": "relu"},
        _linear(packer, model.f6), {"op": "relu"},
        _linear(packer, model.output),
    ]


def mlp_program(model: CustomMLP, packer: _Packer) -> list[dict[str, Any]]:
    """The MLP's layers in order; the hidden sizes come from the weights, so any CustomMLP shape works."""
    program = []
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            program.append(_linear(packer, layer))
        elif isinstance(layer, nn.ReLU):
            program.append({"op": "relu"})
        elif not isinstance(layer, nn.Flatten):
            raise ValueError(f"the demo cannot run a {type(layer).__name__} layer")
    return program


def _mlp_shaped_like(state: dict[str, torch.Tensor]) -> CustomMLP:
    """A CustomMLP with the hidden sizes these weights have (the default shape may have changed since)."""
    linear = sorted((k for k in state if k.startswith("layers.") and k.endswith(".weight")),
                    key=lambda k: int(k.split(".")[1]))
    return CustomMLP(hidden=tuple(int(state[k].shape[0]) for k in linear[:-1]))


def _as_model(model: ModelOrRun, results_dir: str | Path | None) -> tuple[nn.Module, str]:
    """A module and the note shown beside its name (test accuracy of a stored run)."""
    if isinstance(model, dict):
        accuracy = model.get("final_test_acc")
        note = f"{accuracy:.2%} on the test set" if accuracy is not None else ""
        if note and not model.get("data", {}).get("full", True):
            note += " (5,000-digit sample only)"
        mlp = model["spec"]["model"].startswith("mlp")  # read safely either way (`load_weights`)
        return load_weights(model, results_dir, build=_mlp_shaped_like if mlp else None), note
    return model, ""


def _markup(uid: str, cards: list[tuple[str, str, str]]) -> str:
    maps = "".join('<canvas class="mnist-demo-map" width="28" height="28"></canvas>' for _ in range(6))
    bars = "".join(f'<div class="mnist-demo-col"><div class="mnist-demo-track"><div class="mnist-demo-bar"></div>'
                   f"</div><span>{d}</span></div>" for d in range(10))
    answers = "".join(
        f'<div class="mnist-demo-model" data-model="{key}"><div class="mnist-demo-head">'
        f'<span class="mnist-demo-name">{html.escape(name)}</span> <span class="mnist-demo-note">{html.escape(note)}'
        f'</span></div><div class="mnist-demo-says"><span class="mnist-demo-digit">?</span>'
        f'<span class="mnist-demo-conf"></span></div><div class="mnist-demo-bars">{bars}</div></div>'
        for key, name, note in cards
    )
    return (
        f'<div class="mnist-demo" id="{uid}" data-prevent-swipe>'
        '<div class="mnist-demo-draw"><canvas class="mnist-demo-pad" width="280" height="280" '
        'aria-label="Draw a digit here"></canvas><div class="mnist-demo-row">'
        '<button type="button" class="mnist-demo-clear">Clear</button>'
        '<span class="mnist-demo-status">draw a digit</span></div></div>'
        '<div class="mnist-demo-inside"><div class="mnist-demo-caption">What the models see (28&times;28)</div>'
        '<canvas class="mnist-demo-seen" width="28" height="28"></canvas>'
        f'<div class="mnist-demo-caption">LeNet-5&rsquo;s six C1 maps</div><div class="mnist-demo-maps">{maps}</div>'
        f'</div><div class="mnist-demo-answers">{answers}</div></div>'
    )


def _asset(name: str) -> str:
    return resources.files("mnistreport").joinpath(name).read_text(encoding="utf-8")


_CALLS = itertools.count()


def demo_html(lenet: ModelOrRun, mlp: ModelOrRun, results_dir: str | Path | None = None) -> str:
    """The demo as one HTML fragment: markup, CSS, JavaScript and both models' weights, nothing fetched.

    `lenet` and `mlp` are trained modules or stored runs (results with weights, read from `results_dir`).
    Every call gets its own element id, so several demos can share a page.
    """
    packer = _Packer()
    lenet_model, lenet_note = _as_model(lenet, results_dir)
    mlp_model, mlp_note = _as_model(mlp, results_dir)
    with torch.no_grad():
        models = [{"key": "lenet5", "program": lenet5_program(lenet_model, packer)},
                  {"key": "mlp", "program": mlp_program(mlp_model, packer)}]
    spec = json.dumps({"models": models, "weights": packer.base64()}, separators=(",", ":"))
    # Deterministic (the same notebook rebuilt gives the same bytes) and distinct per call on one page.
    uid = f"mnist-demo-{hashlib.sha256(spec.encode()).hexdigest()[:8]}-{next(_CALLS)}"
    script = _asset("demo.js")
    if "</script" in script.lower():  # would end the inline script element early
        raise ValueError("demo.js must not contain '</script'")
    markup = _markup(uid, [("lenet5", "LeNet-5", lenet_note), ("mlp", "CustomMLP", mlp_note)])
    return (f"<style>{_asset('demo.css')}</style>\n{markup}\n<script>\n{script}\n"
            f"window.mnistlibDemo.mount(document.getElementById({json.dumps(uid)}), {spec});\n</script>\n")


def demo_page(lenet: ModelOrRun, mlp: ModelOrRun, results_dir: str | Path | None = None,
              title: str = "Draw a digit") -> str:
    """A standalone HTML page around `demo_html`: opens from file:// with no network (tests, screenshots)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head>\n<body>\n'
            f"{demo_html(lenet, mlp, results_dir)}</body></html>\n")


def _preference(result: dict[str, Any]) -> tuple[bool, int, str]:
    """Full MNIST first, then the most training digits, then the newest (a checked run's data may be missing)."""
    data = result.get("data") or {}
    return data.get("full") is True, data.get("n_train") if isinstance(data.get("n_train"), int) else 0, \
        str(result.get("created") or "")


def load_results(results_dir: str | Path | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Stored runs (one arm's), by name and seed, each checked; a JSON file with no history is skipped, warning."""
    found = []
    for path in sorted(paths.results_dir(results_dir).glob("*.json")):
        if isinstance(result := read_json(path), dict) and "history" in result:
            found.append(checked_run(result, path))
        elif path.name != "reproduction.json":  # the study's own record beside the runs
            warnings.warn(f"{paths.shown(path)}: not a stored run (no history), skipped", stacklevel=2)
    return sorted((r for r in found if name in (None, r["name"])), key=lambda r: (r["name"], r["seed"]))


def template_runs(results_dir: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Seed 0 of notebook 3's LeNet-5 and CustomMLP runs that have stored weights, preferring full MNIST."""
    found, stored = [], load_results(results_dir)  # every run file read once
    for name in ("lenet5", "mlp"):
        runs = [r for r in stored if r["name"] == name and r["seed"] == 0 and weights_path(r, results_dir).is_file()]
        if not runs:
            raise FileNotFoundError(f"no stored '{name}' run of seed 0 with weights in {results_dir or 'results/'} "
                                    "(notebook 3 trains them; `make report`)")
        found.append(max(runs, key=_preference))
    return found[0], found[1]


# A 7 drawn as three points on the pad (fractions of its width and height), for the README's screenshot.
SEVEN = ((0.3, 0.2), (0.72, 0.2), (0.45, 0.85))


def draw(page: Any, points: Sequence[tuple[float, float]], selector: str = ".mnist-demo", steps: int = 12) -> None:
    """Draw with the mouse through `points`, given as fractions of the drawing pad's width and height."""
    box = page.locator(f"{selector} .mnist-demo-pad").bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def screenshot(page_html: str, png: str | Path, stroke: Sequence[tuple[float, float]] = SEVEN) -> Path:
    """Open the page in headless Chromium (Playwright, no network), draw `stroke` with the mouse, save the panel."""
    from mnistreport.browser import launch, offline_page

    png = Path(png)
    with tempfile.TemporaryDirectory() as tmp, launch() as browser, offline_page(browser, (1100, 480), 2) as page:
        page_file = Path(tmp) / "demo.html"
        page_file.write_text(page_html, encoding="utf-8")
        page.goto(page_file.as_uri())
        draw(page, stroke)
        page.wait_for_timeout(200)
        with atomic_path(png) as partial:
            partial.write_bytes(page.locator(".mnist-demo").screenshot(type="png"))
    return png


def main(argv: Sequence[str] | None = None) -> int:
    """Write the demo as a standalone page (and optionally a screenshot) from the stored seed-0 template runs."""
    page, png = paths.REPORTS_DIR / "demo.html", paths.FIGURES_DIR / "demo.png"  # the repository's, from anywhere
    parser = argparse.ArgumentParser(prog="python -m mnistreport.demo", description=main.__doc__)
    parser.add_argument("--results-dir", type=Path, default=None, help="run store (default results/)")
    parser.add_argument("--out", type=Path, default=page, help=f"page to write (default {paths.shown(page)})")
    parser.add_argument("--png", type=Path, nargs="?", const=png, default=None,
                        help=f"also save a screenshot with a drawn 7 (default path {paths.shown(png)})")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():  # a file skipped in the run store: one line
        warnings.showwarning = lambda message, *_a, **_k: print(f"warning: {message}", file=sys.stderr)
        try:
            lenet_run, mlp_run = template_runs(args.results_dir)
            page_html = demo_page(lenet_run, mlp_run, args.results_dir)
            with atomic_open(args.out) as handle:
                handle.write(page_html)
            print(f"wrote {paths.shown(args.out)} (runs {lenet_run['id']}, {mlp_run['id']})")
            if args.png:
                print(f"wrote {paths.shown(screenshot(page_html, args.png))}")
        except (OSError, ValueError, RuntimeError) as exc:  # a missing, malformed or unsafe file: which and why
            print(f"error: {error_line(exc)}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
