"""The book's photos: real images that ship inside installed packages, so nothing is downloaded.

``load_photo`` returns an ``(H, W, C)`` uint8 array, the way images are stored on disk;
``to_tensor`` turns it into the ``(1, C, H, W)`` float tensor in [0, 1] that PyTorch models take.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = [
    "PHOTOS",
    "center_crop",
    "load_photo",
    "load_raw_photo",
    "resize",
    "to_tensor",
]

#: The photos the book can load, with where each comes from.
PHOTOS = {
    "astronaut": "scikit-image: skimage.data.astronaut() (NASA, public domain)",
    "coffee": "scikit-image: skimage.data.coffee() (Rachel Michetti, CC0)",
    "chelsea": "scikit-image: skimage.data.chelsea() (Stefan van der Walt, CC0)",
    "grace_hopper": "matplotlib sample data: grace_hopper.jpg (US Navy, public domain)",
}


def load_raw_photo(name: str = "astronaut") -> np.ndarray:
    """The photo ``name`` as shipped: an ``(H, W, 3)`` uint8 array."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {sorted(PHOTOS)}")
    if name == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.array(Image.open(f).convert("RGB"))
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)())


def center_crop(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an ``(H, W, C)`` image: ``(S, S, C)`` with ``S = min(H, W)``."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, C)`` uint8 image to ``size`` = ``(H', W')`` (or a square side) with bicubic filtering."""
    height, width = (size, size) if isinstance(size, int) else size
    return np.array(
        Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC)
    )


def load_photo(name: str = "astronaut", size: int = 224) -> np.ndarray:
    """The photo ``name``, centre-cropped to a square and resized: ``(size, size, 3)`` uint8."""
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}")
    return resize(center_crop(load_raw_photo(name)), size)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` uint8 in 0..255 -> ``(1, C, H, W)`` float32 in [0, 1]."""
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(
            f"expected an (H, W, C) uint8 image, got dtype {image.dtype} and shape {image.shape}"
        )
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255.0
