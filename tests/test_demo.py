"""The live demo: its JavaScript agrees with PyTorch, drawing (mouse and touch) answers, and nothing leaves the page."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlib.experiments import RunSpec, load_weights, run, weights_path
from mnistlib.models import CustomMLP, LeNet5
from mnistlib.training import TrainSettings
from mnistreport.demo import demo_html, demo_page, draw
from mnistreport.export import find_reveal

REPO = Path(__file__).resolve().parent.parent
N_DIGITS = 200  # real test digits fed through the page's JavaScript
MEAN, STD = 0.1307, 0.3081


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def runs(sample_data, tmp_path_factory):
    """Tiny template runs (1 epoch on the sample) stored with weights, as notebook 07 finds the real ones."""
    results_dir = tmp_path_factory.mktemp("demo-results")
    found = [run(RunSpec(name, model=name, settings=TrainSettings(epochs=1)), 0, sample_data, results_dir,
                 progress="none", keep_weights=True) for name in ("lenet5", "mlp")]
    return found[0], found[1], results_dir


@pytest.fixture(scope="module")
def models(runs):
    lenet_run, mlp_run, results_dir = runs
    return load_weights(lenet_run, results_dir), load_weights(mlp_run, results_dir)


@pytest.fixture(scope="module")
def page_file(runs, tmp_path_factory) -> Path:
    lenet_run, mlp_run, results_dir = runs
    path = tmp_path_factory.mktemp("demo-page") / "demo.html"
    path.write_text(demo_page(lenet_run, mlp_run, results_dir), encoding="utf-8")
    return path


def open_demo(page, path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelector('.mnist-demo') && document.querySelector('.mnist-demo').mnistDemo")
    page.errors = errors


def torch_probs(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    x = (torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255 - MEAN) / STD
    with torch.no_grad():
        return torch.softmax(model(x), dim=1).numpy()


def js_classify(page, images: np.ndarray, selector: str = ".mnist-demo") -> dict[str, np.ndarray]:
    """Each 28x28 image (0-255) through the page's own classify(), as drawn digits go after preprocessing."""
    out = page.evaluate(
        """([sel, images]) => { const demo = document.querySelector(sel).mnistDemo;
             return images.map((im) => { const r = demo.classify(im); return [r.lenet5.probs, r.mlp.probs]; }); }""",
        [selector, images.reshape(len(images), -1).tolist()],
    )
    out = np.array(out)
    return {"lenet5": out[:, 0], "mlp": out[:, 1]}


def shown(page, selector: str = ".mnist-demo") -> dict:
    """What the panel shows: each model's digit and bar heights, the status line, and the last 28x28 image."""
    return page.evaluate(
        """(sel) => { const root = document.querySelector(sel);
             const cards = Array.from(root.querySelectorAll('.mnist-demo-model'));
             const read = (card) => ({digit: card.querySelector('.mnist-demo-digit').textContent,
               bars: Array.from(card.querySelectorAll('.mnist-demo-bar'), (b) => parseFloat(b.style.height) || 0)});
             return {models: Object.fromEntries(cards.map((c) => [c.dataset.model, read(c)])),
                     status: root.querySelector('.mnist-demo-status').textContent,
                     updates: root.mnistDemo.state.updates, pixels: root.mnistDemo.state.pixels &&
                       Array.from(root.mnistDemo.state.pixels)}; }""",
        selector,
    )


def stroke(page, points: list[tuple[float, float]], selector: str = ".mnist-demo") -> None:
    draw(page, points, selector, steps=4)


SEVEN = [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]


# --------------------------------------------------------------------------------------- Python reference
def area_weights(n: int, m: int) -> np.ndarray:
    """m x n matrix averaging source cells [j*n/m, (j+1)*n/m) into target cell j."""
    weights = np.zeros((m, n))
    for j in range(m):
        a, b = j * n / m, (j + 1) * n / m
        for i in range(int(np.floor(a)), min(n, int(np.ceil(b)))):
            weights[j, i] = (min(b, i + 1) - max(a, i)) * m / n
    return weights


def mnist_preprocess(ink: np.ndarray, threshold: float = 16, min_size: float = 0.15) -> np.ndarray | None:
    """MNIST's recipe written independently of the JavaScript: crop, fit into 20x20, centre the mass in 28x28."""
    rows, cols = np.nonzero(ink > threshold)
    if rows.size == 0:
        return None
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(float)
    h, w = crop.shape
    if max(h, w) < min_size * max(ink.shape):
        return None
    scale = 20 / max(h, w)
    dh, dw = max(1, int(np.floor(h * scale + 0.5))), max(1, int(np.floor(w * scale + 0.5)))
    small = area_weights(h, dh) @ crop @ area_weights(w, dw).T
    ys, xs = np.mgrid[0:dh, 0:dw]
    cy, cx = (small * ys).sum() / small.sum(), (small * xs).sum() / small.sum()
    oy, ox = int(np.floor(14.5 - cy)), int(np.floor(14.5 - cx))  # centre of mass within half a pixel of 14
    out = np.zeros((28, 28))
    for i in range(dh):
        for j in range(dw):
            if 0 <= oy + i < 28 and 0 <= ox + j < 28:
                out[oy + i, ox + j] = small[i, j]
    return out


# ------------------------------------------------------------------------------------------------ Python side
def test_fragment_embeds_weights_in_pytorch_order_and_references_nothing(models):
    lenet, mlp = models
    fragment = demo_html(lenet, mlp)
    assert 300_000 < len(fragment) < 1_000_000  # ~123k float32 weights as base64: a few hundred kB
    assert not re.search(r"""(src|href)\s*=|https?://|@import|url\(""", fragment)
    spec = json.loads(re.search(r"mount\(document\.getElementById\(\"[\w-]+\"\), (\{.*\})\);", fragment).group(1))
    floats = np.frombuffer(base64.b64decode(spec["weights"]), dtype="<f4")
    c1 = spec["models"][0]["program"][0]
    offset, length = c1["w"]
    np.testing.assert_array_equal(floats[offset:offset + length].reshape(c1["shape"]), lenet.c1.weight.detach().numpy())
    widths = [op["shape"][0] for op in spec["models"][1]["program"] if op["op"] == "linear"]
    assert widths == [layer.out_features for layer in mlp.layers if isinstance(layer, torch.nn.Linear)]
    assert floats.size == sum(p.numel() for m in models for p in m.parameters())


def test_stored_runs_show_their_test_accuracy_and_say_when_it_is_the_samples(runs):
    lenet_run, mlp_run, results_dir = runs
    fragment = demo_html(lenet_run, mlp_run, results_dir)
    assert f"{lenet_run['final_test_acc']:.2%} on the test set (5,000-digit sample only)" in fragment
    assert f"{mlp_run['final_test_acc']:.2%} on the test set (5,000-digit sample only)" in fragment


def test_every_fragment_has_its_own_id(models):
    ids = [re.search(r'class="mnist-demo" id="([\w-]+)"', demo_html(*models)).group(1) for _ in range(3)]
    assert len(set(ids)) == 3


def test_batch_norm_lenet_is_refused():
    with pytest.raises(ValueError, match="batch norm"):
        demo_html(LeNet5(batch_norm=True), CustomMLP())


# ------------------------------------------------------------------------------------------------ in Chromium
@pytest.mark.browser
def test_real_test_digits_get_pytorchs_answer_in_javascript(offline_page, page_file, models, sample_data):
    open_demo(offline_page, page_file)
    images = sample_data.test_images[:N_DIGITS].numpy()
    js = js_classify(offline_page, images)
    for model, name in zip(models, ("lenet5", "mlp"), strict=True):
        expected = torch_probs(model, images)
        np.testing.assert_array_equal(js[name].argmax(1), expected.argmax(1), err_msg=name)
        assert np.abs(js[name] - expected).max() < 1e-4, name
    assert len(set(js["mlp"].argmax(1))) >= 5  # real, varied answers: a constant guess would not test much
    assert offline_page.errors == [] and offline_page.refused == []


@pytest.mark.browser
def test_c1_maps_and_the_shown_answer_follow_pytorch(offline_page, page_file, models, sample_data):
    open_demo(offline_page, page_file)
    lenet, mlp = models
    digit = sample_data.test_images[7].numpy().astype(float)
    c1 = offline_page.evaluate(
        """(im) => { const d = document.querySelector('.mnist-demo').mnistDemo; d.show(im);
             return Array.from(d.state.result.lenet5.kept.c1.data); }""", digit.ravel().tolist())
    x = (torch.tensor(digit, dtype=torch.float32).reshape(1, 1, 28, 28) / 255 - MEAN) / STD
    with torch.no_grad():
        expected = torch.relu(lenet.c1(x)).numpy().ravel()
    assert np.abs(np.array(c1) - expected).max() < 1e-4
    state = shown(offline_page)
    for model, name in zip(models, ("lenet5", "mlp"), strict=True):
        probs = torch_probs(model, digit[None])[0]
        assert state["models"][name]["digit"] == str(probs.argmax())
        np.testing.assert_allclose(state["models"][name]["bars"], 100 * probs, atol=0.01)


@pytest.mark.browser
def test_stored_mlps_of_other_shapes_run_too(offline_page, tmp_path, sample_data):
    torch.manual_seed(0)
    lenet, mlp = LeNet5().eval(), CustomMLP(hidden=(32, 16, 12)).eval()
    results_dir = tmp_path / "results"  # stored as a run would be, under a spec whose default shape differs
    weights_path("mlp-other", results_dir).parent.mkdir(parents=True)
    torch.save(mlp.state_dict(), weights_path("mlp-other", results_dir))
    stored = {"id": "mlp-other", "spec": {"model": "mlp", "batch_norm": False, "dropout": 0.0}, "final_test_acc": 0.5}
    path = tmp_path / "demo.html"
    path.write_text(demo_page(lenet, stored, results_dir), encoding="utf-8")
    open_demo(offline_page, path)
    images = sample_data.test_images[:10].numpy()
    js = js_classify(offline_page, images)
    assert np.abs(js["mlp"] - torch_probs(mlp, images)).max() < 1e-4
    assert np.abs(js["lenet5"] - torch_probs(lenet, images)).max() < 1e-4


@pytest.fixture()
def demo(offline_page, page_file):
    open_demo(offline_page, page_file)
    return offline_page


@pytest.mark.browser
def test_a_drawn_stroke_updates_both_predictions_and_clear_resets(demo, models):
    before = shown(demo)
    assert before["status"] == "draw a digit"
    assert all(m["digit"] == "?" and sum(m["bars"]) == 0 for m in before["models"].values())
    stroke(demo, SEVEN)
    after = shown(demo)
    assert after["status"] == "" and after["updates"] > before["updates"]
    seen = np.array(after["pixels"]).reshape(28, 28)
    for model, name in zip(models, ("lenet5", "mlp"), strict=True):
        probs = torch_probs(model, seen[None])[0]  # PyTorch on the very image the page built from the stroke
        assert after["models"][name]["digit"] == str(probs.argmax())
        assert sum(after["models"][name]["bars"]) == pytest.approx(100, abs=0.1)
    demo.locator(".mnist-demo-clear").click()
    cleared = shown(demo)
    assert cleared["status"] == "draw a digit" and cleared["pixels"] is None
    assert all(m["digit"] == "?" and sum(m["bars"]) == 0 for m in cleared["models"].values())
    assert demo.evaluate("document.activeElement.tagName") != "BUTTON"  # keys go back to the slides
    assert demo.errors == [] and demo.refused == []


@pytest.mark.browser
def test_a_dot_or_tiny_scribble_asks_for_a_digit(demo):
    stroke(demo, [(0.5, 0.5), (0.52, 0.51)])
    state = shown(demo)
    assert state["status"] == "draw a digit"
    assert all(m["digit"] == "?" for m in state["models"].values())


def touch_stroke(page, points: list[tuple[float, float]], selector: str = ".mnist-demo") -> None:
    """A finger drawn through `points` (fractions of the pad), as real touch input through the DevTools protocol."""
    box = page.locator(f"{selector} .mnist-demo-pad").bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    fine = [xy[0]] + [(a[0] + (b[0] - a[0]) * t / 8, a[1] + (b[1] - a[1]) * t / 8)
                      for a, b in zip(xy[:-1], xy[1:], strict=True) for t in range(1, 9)]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": fine[0][0], "y": fine[0][1]}]})
    for x, y in fine[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_timeout(100)


@pytest.mark.browser
def test_a_finger_draws_too(demo):
    touch_stroke(demo, SEVEN)
    state = shown(demo)
    assert state["status"] == ""
    assert all(m["digit"] in "0123456789" and len(m["digit"]) == 1 for m in state["models"].values())
    assert np.array(state["pixels"]).max() > 100


@pytest.mark.browser
def test_preprocessing_matches_a_python_reference(demo):
    # An off-centre, lopsided shape: the crop, the aspect ratio and the centre-of-mass shift all matter.
    stroke(demo, [(0.1, 0.1), (0.6, 0.15), (0.6, 0.35), (0.15, 0.4)])
    ink = np.array(demo.evaluate(
        """() => { const pad = document.querySelector('.mnist-demo-pad');
             const rgba = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
             return Array.from({length: rgba.length / 4}, (_, i) => rgba[4 * i]); }""")).reshape(280, 280)
    expected = mnist_preprocess(ink)
    seen = np.array(shown(demo)["pixels"]).reshape(28, 28)
    assert np.abs(seen - expected).max() < 1e-6
    rows, cols = np.nonzero(expected > 16)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)  # fitted into 20x20 (edges may fall under the threshold)
    ys, xs = np.mgrid[0:28, 0:28]
    assert abs((expected * ys).sum() / expected.sum() - 14) <= 0.5
    assert abs((expected * xs).sum() / expected.sum() - 14) <= 0.5


@pytest.mark.browser
def test_mnist_digits_drawn_large_come_back_as_mnist(demo, sample_data):
    """Real digits blown up 10x and moved off-centre on the pad: the page's preprocessing gives MNIST's images back."""
    images = sample_data.test_images[:50].numpy().astype(float)
    back = [demo.evaluate("(ink) => Array.from(window.mnistlibDemo.preprocess(ink, 280, 280))",
                          np.roll(np.kron(image, np.ones((10, 10))), (-30, 20), axis=(0, 1)).ravel().tolist())
            for image in images]
    exact = np.abs(np.array(back).reshape(-1, 28, 28) - images).max(axis=(1, 2)) < 1e-6
    assert exact.mean() >= 0.85  # measured: 277 of the sample's first 300 test digits


# ------------------------------------------------------------------------------------------------ several demos
@pytest.mark.browser
def test_two_demos_on_one_page_do_not_clash(offline_page, models, tmp_path):
    page = tmp_path / "two.html"
    page.write_text(demo_page(*models).replace("</body>", demo_html(*models) + "</body>"), encoding="utf-8")
    open_demo(offline_page, page)
    ids = offline_page.evaluate("Array.from(document.querySelectorAll('.mnist-demo'), (d) => d.id)")
    assert len(ids) == 2 and len(set(ids)) == 2
    stroke(offline_page, SEVEN, selector=f"#{ids[1]}")
    assert shown(offline_page, f"#{ids[1]}")["status"] == ""
    assert shown(offline_page, f"#{ids[0]}")["status"] == "draw a digit"
    assert offline_page.errors == []


# ------------------------------------------------------------------------------------------------ in a deck
def deck(fragment: str, reveal: Path) -> str:
    """Three slides with the demo on the second, reveal.js inlined and configured as mnistlib's deck."""
    css, js = (reveal / "dist" / "reveal.css").read_text(), (reveal / "dist" / "reveal.js").read_text()
    slides = "".join(f"<section><h2>{title}</h2>{body}</section>"
                     for title, body in (("Before", ""), ("Draw", fragment), ("After", "")))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{css}</style></head><body>'
            f'<div class="reveal"><div class="slides">{slides}</div></div><script>{js}</script><script>'
            "Reveal.initialize({width: 1280, height: 720, margin: 0.04, center: true, hash: false, transition: 'none',"
            " keyboard: true});</script></body></html>")


@pytest.fixture()
def deck_page(offline_page, models, tmp_path):
    path = tmp_path / "deck.html"
    path.write_text(deck(demo_html(*models), find_reveal()), encoding="utf-8")
    open_demo(offline_page, path)
    offline_page.wait_for_function("window.Reveal && Reveal.isReady()")
    offline_page.evaluate("Reveal.slide(1)")
    return offline_page


def slide_index(page) -> int:
    return page.evaluate("Reveal.getIndices().h")


@pytest.mark.browser
def test_drawing_in_the_deck_does_not_turn_slides_and_keys_still_do(deck_page):
    page = deck_page
    page.set_viewport_size({"width": 1024, "height": 768})
    page.evaluate("Reveal.layout()")
    swipe = [(0.9, 0.3), (0.1, 0.35), (0.5, 0.9)]  # right to left first: a swipe gesture over the pad
    stroke(page, swipe)
    assert slide_index(page) == 1 and shown(page)["status"] == ""
    page.locator(".mnist-demo-clear").click()
    touch_stroke(page, swipe)
    assert slide_index(page) == 1 and shown(page)["status"] == ""
    page.locator(".mnist-demo-clear").click()
    page.keyboard.press("ArrowRight")
    assert slide_index(page) == 2
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert slide_index(page) == 0
    assert page.errors == [] and page.refused == []


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1024, 768), (3840, 2160)])
def test_the_demo_fits_its_slide_on_a_projector_and_on_4k(deck_page, width, height):
    page = deck_page
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("Reveal.layout()")
    page.wait_for_timeout(100)
    demo = page.locator(".mnist-demo").bounding_box()
    pad = page.locator(".mnist-demo-pad").bounding_box()
    assert demo["x"] >= 0 and demo["y"] >= 0
    assert demo["x"] + demo["width"] <= width and demo["y"] + demo["height"] <= height
    slide = page.locator(".reveal .slides").bounding_box()
    assert pad["width"] >= 0.25 * slide["width"]  # scaled with the slide: large enough to draw on from the lectern
    bars = page.locator(".mnist-demo-model[data-model=mlp] .mnist-demo-track").first.bounding_box()
    assert bars["y"] + bars["height"] <= height
    stroke(page, SEVEN)  # pointer positions map to the pad however the slide is scaled
    seen = np.array(shown(page)["pixels"]).reshape(28, 28)
    assert seen[4:10].sum() > seen[18:24].sum()  # the seven's bar is at the top, as drawn
