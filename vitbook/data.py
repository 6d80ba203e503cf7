"""The data the book trains on: Fashion-MNIST, and the arrangement task of
book/08_position_embeddings.ipynb.

Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017; MIT licence) is found offline or
downloaded once, always verified.

``load_fashion_mnist(split)`` looks, in order, in

1. the directory named by the environment variable ``VITBOOK_FASHION_MNIST``;
2. ``/usr/share/datasets/fashion-mnist/`` (Debian's package ``dataset-fashion-mnist``);
3. the user cache, ``$XDG_CACHE_HOME/vitbook/fashion-mnist`` (default ``~/.cache/...``);
4. the official download, saved into that cache, where the network allows.

Each file may be gzipped or not. Its decompressed bytes must match a known SHA-256 sum,
wherever it came from. A file that is cut off, damaged or wrong is an error that names
it and says what to do; the loader deletes only its own copies (a bad download, a bad
file in the user cache, which it then downloads again once, with a ``DataWarning``).
A ``$VITBOOK_FASHION_MNIST`` that names no usable folder is a ``DataWarning``, and the
loader looks further. No other data is ever substituted.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch

from . import checks
from .patches import unpatchify

__all__ = [
    "ARRANGEMENT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "ChecksumError",
    "DamagedFileError",
    "DataNotFoundError",
    "DataWarning",
    "arrangement_images",
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


class DamagedFileError(ChecksumError):
    """A data file cannot be decompressed: it is cut off, not gzip, or damaged."""


class DataWarning(UserWarning):
    """The loader skipped or replaced something, and carried on."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vitbook" / "fashion-mnist"


def _places() -> list[tuple[str, str, Path]]:
    """Where the loader looks, in order: ``(key, what, directory)``, where ``key``
    is "env", "system" or "cache". An empty ``$VITBOOK_FASHION_MNIST`` is unset."""
    places = []
    if os.environ.get(ENV_VAR):
        places.append(("env", f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    places.append(("system", "Debian package dataset-fashion-mnist", SYSTEM_DIR))
    places.append(("cache", "user cache", cache_dir()))
    return places


def search_paths() -> list[tuple[str, Path]]:
    """Where the loader looks, in order: ``(what, directory)`` pairs."""
    return [(what, directory) for _, what, directory in _places()]


def _file_in(directory: Path, name: str) -> Path | None:
    """``name``.gz or ``name`` in ``directory``, the gzipped one first; or None."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _find(name: str) -> tuple[str, Path] | None:
    """The first place (its key, see ``_places``) and file that holds ``name``."""
    for key, _, directory in _places():
        path = _file_in(directory, name)
        if path is not None:
            return key, path
    return None


def _names(spec: dict) -> list[str]:
    """A split's two file names: images, then labels."""
    return [spec["images"][0], spec["labels"][0]]


def _check_env_dir(split: str) -> None:
    """Warn (DataWarning) when ``$VITBOOK_FASHION_MNIST`` is set but names no folder,
    or a folder without the files of ``split``: the loader then looks further."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return
    directory = Path(value)
    everything = [name for spec in FILES.values() for name in _names(spec)]
    if not directory.exists():
        problem = "names no existing folder, so it is ignored"
    elif not directory.is_dir():
        problem = "names a file, not a folder, so it is ignored"
    elif not any(_file_in(directory, name) for name in everything):
        listed = ", ".join(everything)
        problem = (
            f"names a folder that holds none of the Fashion-MNIST files ({listed}, "
            "each gzipped as .gz or not), so it is ignored"
        )
    else:
        missing = [
            name for name in _names(FILES[split]) if _file_in(directory, name) is None
        ]
        if not missing:
            return
        listed = ", ".join(f"{name}(.gz)" for name in missing)
        problem = (
            f"names a folder that lacks {listed}, needed for split {split!r}; "
            "the loader looks for those in the next places"
        )
    warnings.warn(
        f"${ENV_VAR}={value!r} {problem}. Set it to the folder that holds the "
        f"official files from {URL}, or unset it.",
        DataWarning,
        stacklevel=3,
    )


def _advice(key: str, name: str, download: bool) -> str:
    """What the user should know about a bad file ``name`` found at place ``key``
    (see ``_places``; "download" for a fresh download), and what to do."""
    if key == "cache":
        again = (
            " and downloads it again"
            if download
            else "; a call with download=True downloads it again"
        )
        return (
            "It was in vitbook's own user cache, which is safe to delete: "
            f"the loader has deleted it{again}."
        )
    if key == "download":
        return (
            f"It was just downloaded from {URL}, and the loader has deleted it. "
            "Try again later; if this keeps happening, something on the way changes "
            "the file: get the files another way (`apt-get install "
            f"dataset-fashion-mnist`, or a folder named by ${ENV_VAR})."
        )
    if key == "system":
        return (
            "It belongs to Debian's package dataset-fashion-mnist, and the loader "
            "leaves it alone: reinstall it with "
            "`sudo apt-get install --reinstall dataset-fashion-mnist`."
        )
    return (
        f"It is in the folder ${ENV_VAR} names, and the loader leaves it alone: "
        "it is safe to delete it, or to replace it with the official file "
        f"{URL}{name}.gz."
    )


def _read(path: Path, advice: str) -> bytes:
    """The bytes of ``path``, decompressed if gzipped. A ``.gz`` (or ``.gz.part``)
    file must be gzip; a file that is not raises DamagedFileError, with ``advice``."""
    raw = path.read_bytes()
    named_gz = path.name.endswith((".gz", ".gz.part"))
    if raw[:2] != b"\x1f\x8b":
        if not named_gz:
            return raw
        problem = (
            f"is not a gzip file (it starts with {raw[:16]!r}, not the gzip "
            "signature 1f 8b)"
        )
    else:
        try:
            return gzip.decompress(raw)
        except EOFError:
            problem = f"is cut off: its gzip data end early, after {len(raw)} bytes"
        except (gzip.BadGzipFile, zlib.error) as error:
            problem = f"is damaged: gzip cannot decompress it ({error})"
    raise DamagedFileError(f"{path} {problem}. {advice}")


def _verified(path: Path, sha256: str, advice: str) -> bytes:
    """The decompressed contents of ``path`` if their SHA-256 is ``sha256``; else
    DamagedFileError or ChecksumError, naming ``path``, with ``advice``."""
    data = _read(path, advice)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ChecksumError(
            f"{path} does not hold the expected Fashion-MNIST data: "
            f"SHA-256 of its contents is {digest}, expected {sha256}. {advice}"
        )
    return data


def _download(name: str, sha256: str, timeout: float = 30.0) -> bytes:
    """Download ``name``.gz into the cache and verify it: its contents. Whatever
    fails, no partial or bad file is left behind."""
    target = cache_dir() / f"{name}.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".gz.part")
    try:
        with urllib.request.urlopen(URL + f"{name}.gz", timeout=timeout) as response:
            with partial.open("wb") as file:
                shutil.copyfileobj(response, file)
        data = _verified(partial, sha256, _advice("download", name, True))
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return data


def _parse_idx(data: bytes, dims: int) -> np.ndarray:
    """An idx file (big-endian header: magic, then ``dims`` sizes) as a uint8 array."""
    header = 4 * (1 + dims)
    shape = tuple(
        int.from_bytes(data[4 * (1 + i) : 4 * (2 + i)], "big") for i in range(dims)
    )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _download_failure(error: Exception) -> str:
    """Why a download failed, for DataNotFoundError."""
    if isinstance(error, http.client.IncompleteRead):
        return f"the download from {URL} was cut off ({error})"
    return f"the download from {URL} failed ({type(error).__name__}: {error})"


def _load_file(name: str, sha256: str, download: bool) -> bytes:
    found = _find(name)
    if found is not None:
        key, path = found
        try:
            return _verified(path, sha256, _advice(key, name, download))
        except ChecksumError as error:
            if key != "cache":
                raise
            # vitbook's own copy: a bad one is never kept
            path.unlink(missing_ok=True)
            if not download:
                raise
            warnings.warn(str(error), DataWarning, stacklevel=3)
    if download:
        try:
            return _download(name, sha256)
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            OSError,
            TimeoutError,
        ) as error:
            reason = _download_failure(error)
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


def _check_split(split: object) -> None:
    checks.choice(split, "split", tuple(FILES))


def _check_download(download: object) -> None:
    checks.instance(
        download, "download", bool, "True or False (False: never use the network)"
    )


def load_fashion_mnist(
    split: str = "train", download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST ``split`` ("train" or "test"):
    uint8 images ``(N, 28, 28)`` and int64 labels ``(N,)``.

    A damaged file, or one whose checksum is wrong, is an error naming it, unless it
    is in vitbook's own cache: there it is deleted and, if ``download``, downloaded
    again (with a DataWarning). An unusable ``$VITBOOK_FASHION_MNIST`` is a
    DataWarning, and the loader looks further."""
    _check_split(split)
    _check_download(download)
    _check_env_dir(split)
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
    # (B, C, H+2p, W+2p)
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    # rows (B, H) and columns (B, W) to take
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(images.device)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(images.device)
    index = torch.arange(b, device=images.device)[:, None, None]
    channels_last = padded.permute(0, 2, 3, 1)
    # (B, H, W, C)
    out = channels_last[index, rows[:, :, None], cols[:, None, :]]
    out = out.permute(0, 3, 1, 2)
    flip = (torch.rand(b, generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


#: The arrangement task's four classes: where the red mark sits relative to the blue.
ARRANGEMENT_CLASSES = (
    "red up-left of blue",
    "red up-right",
    "red down-left",
    "red down-right",
)
#: (swap red and blue rows?, swap their columns?) for each class
_ARRANGEMENTS = ((0, 0), (1, 0), (0, 1), (1, 1))


def arrangement_images(
    groups: int, seed: int, all_arrangements: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The task of 08_position_embeddings.ipynb: 16x16 images on a 4x4 grid of 4x4
    patches, noise patches and one red and one blue mark, labelled by where red sits
    relative to blue.

    Returns images ``(M, 3, 16, 16)`` in [0, 1] and labels ``(M,)``. Each group is one
    bag of 16 patches; with ``all_arrangements`` it is placed four ways, one per class
    (``M = 4 * groups``, arrangement-major), so that a model that sees only the bag of
    patches is at chance; without, once (``M = groups``). 08_position_embeddings.ipynb
    builds the same function step by step and checks that the two agree."""
    groups = checks.positive_int(groups, "groups")
    seed = checks.nonnegative_int(seed, "seed")
    checks.instance(all_arrangements, "all_arrangements", bool, "True or False")
    grid, patch = 4, 4
    n = grid * grid
    g = torch.Generator().manual_seed(seed)
    # two different rows and two different columns per group
    rows = torch.rand(groups, grid, generator=g).argsort(dim=1)[:, :2]
    cols = torch.rand(groups, grid, generator=g).argsort(dim=1)[:, :2]
    # noise patches (groups, N, P, P, C); patch 0 gets a red mark, patch 1 a blue one
    bag = 0.3 * torch.rand(groups, n, patch, patch, 3, generator=g)
    bag[:, 0, 1:3, 1:3, 0] = 1.0
    bag[:, 1, 1:3, 1:3, 2] = 1.0
    bag = bag.reshape(groups, n, patch * patch * 3)
    each = torch.arange(groups)
    images, labels = [], []
    for swap_rows, swap_cols in _ARRANGEMENTS[: 4 if all_arrangements else 1]:
        red_row, blue_row = rows[:, swap_rows], rows[:, 1 - swap_rows]
        red_col, blue_col = cols[:, swap_cols], cols[:, 1 - swap_cols]
        # sort keys of the slots: red's slot first, blue's second, then the others
        key = torch.arange(n).repeat(groups, 1)
        key[each, red_row * grid + red_col] = -2
        key[each, blue_row * grid + blue_col] = -1
        # (groups, N): patch k of the bag goes to slot slots[k]
        slots = key.argsort(dim=1)
        index = slots[..., None].expand_as(bag)
        placed = torch.empty_like(bag).scatter_(1, index, bag)
        images.append(unpatchify(placed, patch, grid * patch))
        labels.append(2 * (red_row > blue_row).long() + (red_col > blue_col).long())
    return torch.cat(images), torch.cat(labels)
