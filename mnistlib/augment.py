"""Random affine augmentation of normalised MNIST batches on their device: one `affine_grid` + `grid_sample` call per
batch costs about a convolution layer, not a per-image PIL pipeline in DataLoader workers."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mnistlib.data import MEAN, STD

# What a black pixel becomes after normalisation: the background that transformed images reveal.
BLACK = (0.0 - MEAN) / STD


def random_affine(x: torch.Tensor, generator: torch.Generator | None, degrees: float = 10.0, translate: float = 0.1,
                  scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """Rotate, shift and scale each image of x [B,C,H,W] by its own uniform draws (±degrees, ±translate of the size,
    `scale`); uncovered pixels are BLACK. `generator` is on x's device or the CPU (None: the global RNG)."""
    if x.ndim != 4:
        raise ValueError(f"expected a batch [B,C,H,W], got shape {list(x.shape)}")
    b, _, h, w = x.shape
    if b == 0:
        return x
    draw_device = generator.device if generator is not None else x.device
    u = torch.rand((b, 4), generator=generator, device=draw_device, dtype=torch.float32).to(x.device)
    angle = (u[:, 0] * 2 - 1) * math.radians(degrees)
    tx = (u[:, 1] * 2 - 1) * translate * 2  # normalised coordinates span 2 per image size
    ty = (u[:, 2] * 2 - 1) * translate * 2
    s = scale[0] + u[:, 3] * (scale[1] - scale[0])

    # affine_grid maps output coordinates to input ones, so build the inverse transform:
    # p_in = D^-1 R(-angle) D (p_out - t) / s, with D = diag(w, h) fixing the aspect ratio.
    cos, sin = torch.cos(angle), torch.sin(angle)
    a11, a12 = cos / s, sin * (h / w) / s
    a21, a22 = -sin * (w / h) / s, cos / s
    theta = torch.stack([torch.stack([a11, a12, -(a11 * tx + a12 * ty)], dim=1),
                         torch.stack([a21, a22, -(a21 * tx + a22 * ty)], dim=1)], dim=1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Zero padding of (x - BLACK) is BLACK padding of x, with correct blending at the borders.
    out = F.grid_sample(x - BLACK, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + BLACK


class RandomAffine:
    """random_affine with its parameters stored, so configs and logs can name the augmentation."""

    def __init__(self, degrees: float = 10.0, translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1)) -> None:
        if degrees < 0:
            raise ValueError(f"degrees must be >= 0, got {degrees}")
        if not 0 <= translate <= 1:
            raise ValueError(f"translate must be in [0, 1], got {translate}")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must satisfy 0 < min <= max, got {scale}")
        self.degrees, self.translate = float(degrees), float(translate)
        self.scale = (float(scale[0]), float(scale[1]))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return random_affine(x, generator, self.degrees, self.translate, self.scale)

    def __repr__(self) -> str:
        return f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale})"
