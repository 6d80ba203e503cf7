"""Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017; MIT licence), found offline or
downloaded once, always verified.

``load_fashion_mnist(split)`` looks, in order, in

1. the directory named by the environment variable ``VITBOOK_FASHION_MNIST``;
2. ``/usr/share/datasets/fashion-mnist/`` (Debian's package ``dataset-fashion-mnist``);
3. the user cache, ``$XDG_CACHE_HOME/vitbook/fashion-mnist`` (default ``~/.cache/...``);
4. the official download, saved into that cache, where the network allows.

Each file may be gzipped or not. Its decompressed bytes must match a known SHA-256 sum,
wherever it came from: a mismatch is an error, and a bad download is deleted, never
kept. No other data is ever substituted.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "FASHION_MNIST_CLASSES",
    "DataNotFoundError",
    "load_fashion_mnist",
    "search_paths",
]

ENV_VAR = "VITBOOK_FASHION_MNIST"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

#: The ten classes, in label order.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: For each split, its (images, labels) files, the count,
#: and the SHA-256 of the decompressed bytes.
FILES = {
    "train": {
        "images": (
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "labels": (
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "count": 60000,
    },
    "test": {
        "images": (
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "labels": (
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
        "count": 10000,
    },
}


class DataNotFoundError(FileNotFoundError):
    """Fashion-MNIST was not found anywhere the loader looks,
    and could not be downloaded."""


class ChecksumError(ValueError):
    """A data file's decompressed contents do not match the known SHA-256 sum."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vitbook" / "fashion-mnist"


def search_paths() -> list[tuple[str, Path]]:
    """Where the loader looks, in order: ``(what, directory)`` pairs."""
    paths = []
    if os.environ.get(ENV_VAR):
        paths.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    paths.append(("Debian package dataset-fashion-mnist", SYSTEM_DIR))
    paths.append(("user cache", cache_dir()))
    return paths


def _read(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _verified(path: Path, sha256: str) -> bytes:
    data = _read(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ChecksumError(
            f"{path} does not hold the expected Fashion-MNIST data: "
            f"SHA-256 of its contents is {digest}, expected {sha256}. "
            "Replace it with the official file."
        )
    return data


def _find(name: str) -> Path | None:
    for _, directory in search_paths():
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                return candidate
    return None


def _download(name: str, sha256: str, timeout: float = 30.0) -> Path:
    """Download ``name``.gz into the cache; verify it; delete it again if it is bad."""
    target = cache_dir() / f"{name}.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".gz.part")
    with urllib.request.urlopen(URL + f"{name}.gz", timeout=timeout) as response:
        partial.write_bytes(response.read())
    try:
        _verified(partial, sha256)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def _parse_idx(data: bytes, dims: int) -> np.ndarray:
    """An idx file (big-endian header: magic, then ``dims`` sizes) as a uint8 array."""
    header = 4 * (1 + dims)
    shape = tuple(
        int.from_bytes(data[4 * (1 + i) : 4 * (2 + i)], "big") for i in range(dims)
    )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _load_file(name: str, sha256: str, download: bool) -> bytes:
    path = _find(name)
    if path is not None:
        return _verified(path, sha256)
    if download:
        try:
            return _verified(_download(name, sha256), sha256)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            reason = f"the download from {URL} failed ({error})"
    else:
        reason = "downloading was switched off (download=False)"
    places = "\n".join(f"  - {what}: {directory}" for what, directory in search_paths())
    raise DataNotFoundError(
        f"Fashion-MNIST file {name} (or {name}.gz) was not found. "
        f"Looked in:\n{places}\nand {reason}.\n"
        "To provide the data: `apt-get install dataset-fashion-mnist` (Debian), "
        "or put the four official files (train/t10k images/labels .gz) "
        f"in a directory and set {ENV_VAR} to it, or allow the download."
    )


def load_fashion_mnist(
    split: str = "train", download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST ``split`` ("train" or "test"):
    uint8 images ``(N, 28, 28)`` and int64 labels ``(N,)``."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    spec = FILES[split]
    images = _parse_idx(_load_file(*spec["images"], download=download), dims=3)
    labels = _parse_idx(_load_file(*spec["labels"], download=download), dims=1)
    if images.shape != (spec["count"], 28, 28) or labels.shape != (spec["count"],):
        raise ChecksumError(
            f"unexpected shapes {images.shape} and {labels.shape} for split {split!r}"
        )
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of a batch ``(B, C, H, W)`` left-right with probability 1/2
    (seeded)."""
    flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_crop_flip(
    images: torch.Tensor, generator: torch.Generator, padding: int = 2
) -> torch.Tensor:
    """Augment a batch ``(B, C, H, W)``: a random shift of up to ``padding`` pixels
    (zero-padded crop) and a random left-right flip, each image on its own; the same
    generator, the same batch.
    """
    b, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(images.device)  # (B, H)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(images.device)  # (B, W)
    index = torch.arange(b, device=images.device)[:, None, None]
    channels_last = padded.permute(0, 2, 3, 1)
    out = channels_last[index, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    out = out.permute(0, 3, 1, 2)
    flip = (torch.rand(b, generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)
