"""Tests of the batched random affine augmentation."""

from __future__ import annotations

import pytest
import torch

from mnistlib.augment import BLACK, RandomAffine, random_affine
from mnistlib.data import MEAN, STD, MnistArrays


def normalised(images_u8: torch.Tensor) -> torch.Tensor:
    return (images_u8.unsqueeze(1).float() / 255 - MEAN) / STD


@pytest.fixture(scope="module")
def batch(sample_data: MnistArrays) -> torch.Tensor:
    return normalised(sample_data.train_images[:64])


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_identity_parameters_return_input(batch: torch.Tensor) -> None:
    out = random_affine(batch, gen(0), degrees=0.0, translate=0.0, scale=(1.0, 1.0))
    assert torch.allclose(out, batch, atol=1e-5)


def test_shape_dtype_device_preserved(batch: torch.Tensor) -> None:
    out = RandomAffine()(batch, gen(0))
    assert out.shape == batch.shape and out.dtype == batch.dtype and out.device == batch.device
    assert not torch.allclose(out, batch, atol=1e-3)
    double = random_affine(batch.double(), gen(0))
    assert double.dtype == torch.float64


def test_same_seed_same_output(batch: torch.Tensor) -> None:
    aug = RandomAffine(degrees=15, translate=0.1, scale=(0.8, 1.2))
    assert torch.equal(aug(batch, gen(7)), aug(batch, gen(7)))
    assert not torch.allclose(aug(batch, gen(7)), aug(batch, gen(8)))


def test_each_image_gets_its_own_transform(batch: torch.Tensor) -> None:
    same = batch[:1].expand(16, -1, -1, -1).contiguous()
    out = random_affine(same, gen(1))
    flat = out.flatten(1)
    diffs = (flat[:, None, :] - flat[None, :, :]).abs().amax(-1)
    off_diagonal = diffs[~torch.eye(16, dtype=torch.bool)]
    assert off_diagonal.min() > 0.1


def test_background_is_black_not_zero(batch: torch.Tensor) -> None:
    shrunk = random_affine(batch, gen(0), degrees=0.0, translate=0.0, scale=(0.5, 0.5))
    # The digit shrinks into the centre; the border it uncovers is a black pixel, normalised.
    border = torch.cat(
        [shrunk[..., :3, :].flatten(), shrunk[..., -3:, :].flatten(), shrunk[..., :, :3].flatten()]
    )
    assert torch.allclose(border, torch.full_like(border, BLACK), atol=1e-5)
    assert BLACK == pytest.approx((0 - MEAN) / STD)


def test_translation_moves_content(batch: torch.Tensor) -> None:
    # translate bounds the shift; with a fixed draw the mean x position of ink moves by at most 10% of 28.
    x = batch[:8]
    out = random_affine(x, gen(3), degrees=0.0, translate=0.1, scale=(1.0, 1.0))
    cols = torch.arange(28.0)

    def centre(img: torch.Tensor) -> torch.Tensor:
        ink = (img - BLACK).clamp(min=0)[:, 0].sum(1)
        return (ink * cols).sum(1) / ink.sum(1)

    shift = centre(out) - centre(x)
    assert shift.abs().max() <= 2.8 + 0.5 and shift.abs().max() > 0.2


def test_global_rng_when_no_generator(batch: torch.Tensor) -> None:
    torch.manual_seed(11)
    first = random_affine(batch, None)
    torch.manual_seed(11)
    assert torch.equal(first, random_affine(batch, None))


def test_random_affine_repr_and_validation() -> None:
    aug = RandomAffine(degrees=5, translate=0.05, scale=(0.95, 1.05))
    assert repr(aug) == "RandomAffine(degrees=5.0, translate=0.05, scale=(0.95, 1.05))"
    with pytest.raises(ValueError, match="scale"):
        RandomAffine(scale=(1.1, 0.9))
    with pytest.raises(ValueError, match="degrees"):
        RandomAffine(degrees=-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_with_cpu_or_cuda_generator(batch: torch.Tensor) -> None:
    x = batch.cuda()
    out_cpu_gen = random_affine(x, gen(0))
    out_cuda_gen = random_affine(x, torch.Generator(device="cuda").manual_seed(0))
    assert out_cpu_gen.is_cuda and out_cuda_gen.is_cuda
    assert torch.allclose(out_cpu_gen.cpu(), random_affine(batch, gen(0)), atol=1e-4)
