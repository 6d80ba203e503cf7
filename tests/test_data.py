"""Fashion-MNIST loading: every place it looks, the checksum, the download,
and the errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error

import numpy as np
import pytest

from vitbook import data


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file: magic (0, 0, 8 = uint8, ndim), the sizes big-endian,
    then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Three tiny fake 'test' images and labels,
    with FILES pointing at their checksums."""
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (3, 28, 28)), np.array([0, 9, 4])
    blobs = {"fake-images": idx_bytes(images), "fake-labels": idx_bytes(labels)}
    spec = {
        name: (name, hashlib.sha256(blob).hexdigest()) for name, blob in blobs.items()
    }
    monkeypatch.setattr(
        data,
        "FILES",
        {
            "test": {
                "images": spec["fake-images"],
                "labels": spec["fake-labels"],
                "count": 3,
            }
        },
    )
    monkeypatch.setattr(data, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(data.ENV_VAR, raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)

    def write(directory, gz=True, corrupt=False):
        directory.mkdir(parents=True, exist_ok=True)
        for name, blob in blobs.items():
            blob = blob[:-1] + b"\x00" if corrupt else blob
            if gz:
                (directory / f"{name}.gz").write_bytes(gzip.compress(blob))
            else:
                (directory / name).write_bytes(blob)

    return {
        "images": images,
        "labels": labels,
        "blobs": blobs,
        "write": write,
        "tmp": tmp_path,
    }


def check(result, fake):
    images, labels = result
    assert images.dtype.is_floating_point is False and tuple(images.shape) == (
        3,
        28,
        28,
    )
    assert np.array_equal(images.numpy(), fake["images"]) and labels.tolist() == [
        0,
        9,
        4,
    ]


def test_environment_variable_directory_comes_first(fake, monkeypatch):
    fake["write"](fake["tmp"] / "mine", gz=False)
    fake["write"](fake["tmp"] / "system", corrupt=True)  # would fail if it were read
    monkeypatch.setenv(data.ENV_VAR, str(fake["tmp"] / "mine"))
    check(data.load_fashion_mnist("test"), fake)


def test_system_directory(fake):
    fake["write"](fake["tmp"] / "system")
    check(data.load_fashion_mnist("test"), fake)


def test_user_cache(fake):
    fake["write"](fake["tmp"] / "cache" / "vitbook" / "fashion-mnist")
    check(data.load_fashion_mnist("test"), fake)


def test_download_into_the_cache(fake, monkeypatch):
    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        name = url.rsplit("/", 1)[1].removesuffix(".gz")
        return io.BytesIO(gzip.compress(fake["blobs"][name]))

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    check(data.load_fashion_mnist("test"), fake)
    assert [u.rsplit("/", 1)[1] for u in asked] == ["fake-images.gz", "fake-labels.gz"]
    assert (
        fake["tmp"] / "cache" / "vitbook" / "fashion-mnist" / "fake-images.gz"
    ).is_file()
    # now from the cache: no second download
    check(data.load_fashion_mnist("test"), fake)
    assert len(asked) == 2


def test_a_bad_download_is_an_error_and_is_not_kept(fake, monkeypatch):
    monkeypatch.setattr(
        data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"not the data")
    )
    with pytest.raises(data.ChecksumError, match="expected"):
        data.load_fashion_mnist("test")
    assert list((fake["tmp"] / "cache" / "vitbook" / "fashion-mnist").iterdir()) == []


def test_a_corrupt_local_file_is_an_error(fake):
    fake["write"](fake["tmp"] / "system", corrupt=True)
    with pytest.raises(data.ChecksumError, match="SHA-256"):
        data.load_fashion_mnist("test")


def test_nothing_found_lists_every_place(fake, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(fake["tmp"] / "nowhere"))
    with pytest.raises(data.DataNotFoundError) as error:
        data.load_fashion_mnist("test")
    message = str(error.value)
    for place in (
        "nowhere",
        "system",
        "cache",
        "download",
        "apt-get install dataset-fashion-mnist",
    ):
        assert place in message
    with pytest.raises(data.DataNotFoundError, match="download=False"):
        data.load_fashion_mnist("test", download=False)


def test_bad_split():
    with pytest.raises(ValueError, match="'valid'"):
        data.load_fashion_mnist("valid")


@pytest.mark.skipif(
    data._find("t10k-images-idx3-ubyte") is None,
    reason="Fashion-MNIST is not installed",
)
def test_the_real_test_split():
    images, labels = data.load_fashion_mnist("test", download=False)
    assert tuple(images.shape) == (10000, 28, 28) and tuple(labels.shape) == (10000,)
    assert np.bincount(labels.numpy()).tolist() == [1000] * 10


def test_random_flip_mirrors_each_image_or_leaves_it_and_repeats_with_the_seed():
    import torch

    images = torch.rand(64, 1, 28, 28)
    out = data.random_flip(images, torch.Generator().manual_seed(0))
    again = data.random_flip(images, torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.shape == images.shape
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f != k for f, k in zip(flipped, kept))  # each image one or the other
    assert 16 < sum(flipped) < 48  # about half, for this seed
