"""The book's photos: real images that ship inside installed packages,
so nothing is downloaded.

``load_photo`` returns an ``(H, W, C)`` uint8 array, the way images are stored on disk;
``to_tensor`` turns it into the ``(1, C, H, W)`` float tensor in [0, 1] that PyTorch
models take.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from . import checks
from .patches import _pair

__all__ = [
    "PHOTOS",
    "center_crop",
    "chessboard_windows",
    "face_box",
    "photo_crops",
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


def _check_photo(image, name: str, uint8: bool = True) -> None:
    """An ``(H, W, C)`` NumPy photo, uint8 unless ``uint8=False``."""
    if isinstance(image, torch.Tensor):
        raise TypeError(
            f"{name} must be an (H, W, C) NumPy array (a photo as load_photo returns "
            f"it), got a torch.Tensor of shape {tuple(image.shape)}; for a tensor "
            "(1, C, H, W) in [0, 1], use (x[0].permute(1, 2, 0) * 255).byte().numpy()"
        )
    checks.instance(image, name, np.ndarray, "an (H, W, C) NumPy array")
    if uint8 and image.dtype != np.uint8:
        raise TypeError(
            f"{name} must be a uint8 photo (values 0..255), got dtype {image.dtype}; "
            "for floats in [0, 1] use (image * 255).round().astype(np.uint8)"
        )
    if image.ndim != 3:
        raise ValueError(
            f"{name} must have shape (H, W, C), got {image.shape}"
            + (
                "; a grey image? add the axis: image[..., None]"
                if image.ndim == 2
                else ""
            )
        )
    if image.shape[0] in (1, 3, 4) and image.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{name} of shape {image.shape} looks channels-first (C, H, W); this "
            "takes (H, W, C): use image.transpose(1, 2, 0)"
        )


def load_raw_photo(name: str = "astronaut") -> np.ndarray:
    """The photo ``name`` as shipped: an ``(H, W, 3)`` uint8 array."""
    checks.choice(name, "name", sorted(PHOTOS))
    if name == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.array(Image.open(f).convert("RGB"))
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)())


def center_crop(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an ``(H, W, C)`` image:
    ``(S, S, C)`` with ``S = min(H, W)``."""
    _check_photo(image, "image", uint8=False)
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, C)`` uint8 image to ``size`` = ``(H', W')`` (or a square side)
    with bicubic filtering."""
    _check_photo(image, "image")
    height, width = _pair(size, "size")
    return np.array(
        Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC)
    )


def load_photo(name: str = "astronaut", size: int = 224) -> np.ndarray:
    """The photo ``name``, centre-cropped to a square and resized:
    ``(size, size, 3)`` uint8."""
    size = checks.positive_int(size, "size")
    return resize(center_crop(load_raw_photo(name)), size)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` uint8 in 0..255 -> ``(1, C, H, W)`` float32 in [0, 1]."""
    _check_photo(image, "image")
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def face_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """The largest face in an ``(H, W, 3)`` uint8 photo: ``(top, left, height, width)``.

    Found by the frontal-face detector that ships with scikit-image (a cascade of local
    binary pattern features, ``skimage.feature.Cascade``), so a chapter can check in
    code which patches a face covers instead of saying so from the picture.
    """
    from skimage import data
    from skimage.feature import Cascade

    _check_photo(image, "image")
    detector = Cascade(data.lbp_frontal_face_cascade_filename())
    h, w = image.shape[:2]
    faces = detector.detect_multi_scale(
        img=image,
        scale_factor=1.2,
        step_ratio=1,
        min_size=(24, 24),
        max_size=(h, w),
    )
    if not faces:
        raise ValueError(
            f"no face found in the {h}x{w} photo; face_box needs a frontal face of "
            "at least 24x24 pixels"
        )
    face = max(faces, key=lambda f: f["width"] * f["height"])
    return int(face["r"]), int(face["c"]), int(face["height"]), int(face["width"])


def chessboard_windows(
    image: torch.Tensor, train: bool, block: int = 56, size: int = 16, stride: int = 8
) -> torch.Tensor:
    """Windows from one colour of a chessboard laid over a ``(1, C, H, W)`` image.

    The image is cut into ``block x block`` squares coloured like a chessboard; every
    ``size x size`` window at ``stride`` inside the "white" squares (``train=True``) or
    the "black" ones (``train=False``) is returned, ``(M, C, size, size)``. Windows of
    the two colours never overlap, so they make a train and a test set from one photo.
    """
    checks.images(image, "image", needs_float=False, expect="any")
    if image.shape[0] != 1:
        raise ValueError(
            f"image must have shape (1, C, H, W), got {tuple(image.shape)}; "
            "pass one image, e.g. images[:1]"
        )
    train = checks.instance(train, "train", bool, "True or False")
    block = checks.positive_int(block, "block")
    size = checks.positive_int(size, "size")
    stride = checks.positive_int(stride, "stride")
    if size > block:
        raise ValueError(
            f"size {size} is larger than block {block}: no window fits in a square "
            "of the chessboard; choose size <= block"
        )
    channels, height, width = image.shape[1:]
    out = []
    for top in range(0, height, block):
        for left in range(0, width, block):
            if ((top // block + left // block) % 2 == 0) != train:
                continue
            tile = image[:, :, top : top + block, left : left + block]
            # (1, C, rows, cols, size, size): every window of the tile
            windows = tile.unfold(2, size, stride).unfold(3, size, stride)
            windows = windows.permute(0, 2, 3, 1, 4, 5)  # (1, rows, cols, C, s, s)
            out.append(windows.reshape(-1, channels, size, size))
    return torch.cat(out)


def photo_crops(
    photos: dict[str, torch.Tensor], train: bool, **windows
) -> tuple[torch.Tensor, torch.Tensor]:
    """A "which photo is this crop from?" data set: ``(x, y)``.

    ``x`` holds the ``chessboard_windows`` of every photo (``windows`` are its
    ``block``, ``size`` and ``stride``), ``(M, C, size, size)``; ``y`` the index of the
    photo each came from, in the order of ``photos``.
    """
    checks.instance(photos, "photos", dict, "a dict {name: (1, C, H, W) image}")
    if not photos:
        raise ValueError("photos is empty; give at least one {name: image}")
    parts = [chessboard_windows(image, train, **windows) for image in photos.values()]
    labels = [torch.full((len(p),), k) for k, p in enumerate(parts)]
    return torch.cat(parts), torch.cat(labels)
