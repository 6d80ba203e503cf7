"""Fashion-MNIST loading: every place it looks, the checksum, the download,
and the errors."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import urllib.error
import warnings

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
def no_network(monkeypatch):
    """Any attempt to download is a URLError."""

    def urlopen(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)


@pytest.fixture
def fake(tmp_path, monkeypatch, no_network):
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
    # would fail if it were read
    fake["write"](fake["tmp"] / "system", corrupt=True)
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


def test_a_corrupt_local_file_is_an_error(fake):
    fake["write"](fake["tmp"] / "system", corrupt=True)
    with pytest.raises(data.ChecksumError, match="SHA-256"):
        data.load_fashion_mnist("test")


def test_nothing_found_lists_every_place(fake, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(fake["tmp"] / "nowhere"))
    with pytest.warns(data.DataWarning), pytest.raises(data.DataNotFoundError) as error:
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
    with (
        pytest.warns(data.DataWarning),
        pytest.raises(data.DataNotFoundError, match="download=False"),
    ):
        data.load_fashion_mnist("test", download=False)


# Damaged files: each way a file can be bad, as a function of the good
# decompressed bytes, with the error it must raise and the words that say why.


def cut_off(blob):
    packed = gzip.compress(blob)
    return packed[: len(packed) // 2]


def not_gzip(blob):
    return b"<html><body>503 Service Unavailable</body></html>"


def bad_crc(blob):
    packed = gzip.compress(blob)
    return packed[:-8] + bytes(4) + packed[-4:]


def bad_deflate(blob):
    packed = gzip.compress(blob)
    return packed[:10] + b"\xff" * 10 + packed[20:]


def wrong_data(blob):
    return gzip.compress(blob[:-1] + bytes([blob[-1] ^ 1]))


DAMAGE = [
    pytest.param(cut_off, data.DamagedFileError, "is cut off", id="cut-off"),
    pytest.param(not_gzip, data.DamagedFileError, "not a gzip file", id="not-gzip"),
    pytest.param(bad_crc, data.DamagedFileError, "CRC check failed", id="bad-crc"),
    pytest.param(bad_deflate, data.DamagedFileError, "is damaged", id="bad-deflate"),
    pytest.param(wrong_data, data.ChecksumError, "SHA-256", id="wrong-checksum"),
]

# Where a damaged file lies outside the cache: the folder, how to point the
# loader at it, and the advice its error must give.
OUTSIDE = {
    "env": ("mine", True, ["$VITBOOK_FASHION_MNIST", "safe to delete", data.URL]),
    "system": ("system", False, ["apt-get install --reinstall dataset-fashion-mnist"]),
}


@pytest.fixture
def served(fake, monkeypatch):
    """The official server, with the good files; the names asked for, in order."""
    asked = []

    def urlopen(url, timeout):
        name = url.rsplit("/", 1)[1]
        asked.append(name)
        return io.BytesIO(gzip.compress(fake["blobs"][name.removesuffix(".gz")]))

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    return asked


def damage_images(fake, directory, damage):
    """Good files in ``directory``, then the images file damaged: its path."""
    fake["write"](directory)
    path = directory / "fake-images.gz"
    path.write_bytes(damage(fake["blobs"]["fake-images"]))
    return path


@pytest.mark.parametrize("where", sorted(OUTSIDE))
@pytest.mark.parametrize("damage, error, problem", DAMAGE)
def test_a_damaged_file_outside_the_cache_is_an_error_and_is_kept(
    fake, served, monkeypatch, damage, error, problem, where
):
    folder, set_env, advice = OUTSIDE[where]
    path = damage_images(fake, fake["tmp"] / folder, damage)
    if set_env:
        monkeypatch.setenv(data.ENV_VAR, str(path.parent))
    before = path.read_bytes()
    with pytest.raises(data.ChecksumError) as caught:
        data.load_fashion_mnist("test")
    assert caught.type is error
    message = str(caught.value)
    for words in [str(path), problem, *advice]:
        assert words in message
    assert path.read_bytes() == before
    assert served == []


@pytest.mark.parametrize("damage, error, problem", DAMAGE)
def test_a_damaged_cache_file_is_deleted_and_downloaded_again(
    fake, served, damage, error, problem
):
    path = damage_images(
        fake, fake["tmp"] / "cache" / "vitbook" / "fashion-mnist", damage
    )
    with pytest.warns(data.DataWarning) as caught:
        check(data.load_fashion_mnist("test"), fake)
    [message] = [str(warning.message) for warning in caught]
    for words in [str(path), problem, "deleted it and downloads it again"]:
        assert words in message
    assert served == ["fake-images.gz"]
    assert gzip.decompress(path.read_bytes()) == fake["blobs"]["fake-images"]
    # repaired for good: no second warning, no second download
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check(data.load_fashion_mnist("test"), fake)
    assert served == ["fake-images.gz"]


@pytest.mark.parametrize("damage, error, problem", DAMAGE)
def test_a_damaged_cache_file_offline_is_deleted_and_an_error(
    fake, damage, error, problem
):
    cache = fake["tmp"] / "cache" / "vitbook" / "fashion-mnist"
    path = damage_images(fake, cache, damage)
    with pytest.raises(data.ChecksumError) as caught:
        data.load_fashion_mnist("test", download=False)
    assert caught.type is error
    message = str(caught.value)
    for words in [str(path), problem, "safe to delete", "download=True"]:
        assert words in message
    assert sorted(p.name for p in cache.iterdir()) == ["fake-labels.gz"]


@pytest.mark.parametrize("damage, error, problem", DAMAGE)
def test_a_bad_download_is_an_error_and_is_not_kept(
    fake, monkeypatch, damage, error, problem
):
    body = damage(fake["blobs"]["fake-images"])
    monkeypatch.setattr(
        data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(body)
    )
    with pytest.raises(data.ChecksumError) as caught:
        data.load_fashion_mnist("test")
    assert caught.type is error
    message = str(caught.value)
    for words in ["fake-images.gz", problem, "just downloaded", "deleted"]:
        assert words in message
    assert list((fake["tmp"] / "cache" / "vitbook" / "fashion-mnist").iterdir()) == []


class CutOff(io.RawIOBase):
    """An HTTP response whose connection drops after ``body``, short of ``length``:
    like http.client, a read of everything, or a read that finds nothing more,
    raises IncompleteRead."""

    def __init__(self, body, length):
        self.rest, self.length, self.done = body, length, 0

    def readable(self):
        return True

    def read(self, size=-1):
        if size is None or size < 0 or not self.rest:
            got, self.rest = self.done + len(self.rest), b""
            raise http.client.IncompleteRead(b"", self.length - got)
        chunk, self.rest = self.rest[:size], self.rest[size:]
        self.done += len(chunk)
        return chunk


def cut_off_response(url, timeout):
    return CutOff(b"\x1f\x8b" + b"\x00" * 70_000, length=200_000)


def bad_status(url, timeout):
    raise http.client.BadStatusLine("HTTP/9.9 what")


def no_route(url, timeout):
    raise urllib.error.URLError("no route to host")


class Silent(io.RawIOBase):
    """An HTTP response that never sends a byte: every read times out."""

    def readable(self):
        return True

    def read(self, size=-1):
        raise TimeoutError("timed out")


def slow_response(url, timeout):
    return Silent()


@pytest.mark.parametrize(
    "urlopen, words",
    [
        pytest.param(cut_off_response, ["was cut off", "IncompleteRead"], id="cut"),
        pytest.param(bad_status, ["failed", "BadStatusLine"], id="http-error"),
        pytest.param(no_route, ["failed", "no route to host"], id="url-error"),
        pytest.param(slow_response, ["failed", "timed out"], id="timeout"),
    ],
)
def test_a_failed_download_is_data_not_found_and_leaves_no_file(
    fake, monkeypatch, urlopen, words
):
    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load_fashion_mnist("test")
    message = str(caught.value)
    for word in [data.URL, *words]:
        assert word in message
    assert list((fake["tmp"] / "cache" / "vitbook" / "fashion-mnist").iterdir()) == []


# $VITBOOK_FASHION_MNIST set to something the loader cannot use: how to make it,
# and the words its warning must hold. The system folder holds good files (and,
# for the partial folder, bad images: the ones in the folder must be used).


def env_missing(tmp):
    return tmp / "nowhere"


def env_file(tmp):
    (tmp / "a-file").write_bytes(b"")
    return tmp / "a-file"


def env_empty(tmp):
    (tmp / "mine").mkdir()
    (tmp / "mine" / "README").write_text("the data go here")
    return tmp / "mine"


def env_partial(tmp):
    (tmp / "mine").mkdir()
    (tmp / "system" / "fake-images.gz").replace(tmp / "mine" / "fake-images.gz")
    (tmp / "system" / "fake-images.gz").write_bytes(b"not the images")
    return tmp / "mine"


@pytest.mark.parametrize(
    "make, words, absent",
    [
        pytest.param(env_missing, ["no existing folder", "ignored"], [], id="missing"),
        pytest.param(env_file, ["a file, not a folder", "ignored"], [], id="file"),
        pytest.param(env_empty, ["none of the", "ignored"], [], id="empty"),
        pytest.param(
            env_partial, ["lacks fake-labels(.gz)"], ["fake-images("], id="partial"
        ),
    ],
)
def test_an_unusable_environment_folder_is_a_warning_and_skipped(
    fake, monkeypatch, make, words, absent
):
    fake["write"](fake["tmp"] / "system")
    value = str(make(fake["tmp"]))
    monkeypatch.setenv(data.ENV_VAR, value)
    with pytest.warns(data.DataWarning) as caught:
        check(data.load_fashion_mnist("test"), fake)
    [message] = [str(warning.message) for warning in caught]
    for word in [data.ENV_VAR, repr(value), *words]:
        assert word in message
    for word in absent:
        assert word not in message


@pytest.mark.parametrize("where", ["", "mine"], ids=["empty-string", "complete"])
def test_a_usable_or_empty_environment_variable_is_no_warning(fake, monkeypatch, where):
    fake["write"](fake["tmp"] / "system")
    fake["write"](fake["tmp"] / "mine")
    monkeypatch.setenv(data.ENV_VAR, str(fake["tmp"] / where) if where else "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check(data.load_fashion_mnist("test"), fake)


@pytest.mark.parametrize("split", [1, None, b"test", ("test",)])
def test_a_split_that_is_not_a_str_is_a_type_error(no_network, split):
    with pytest.raises(TypeError) as caught:
        data.load_fashion_mnist(split)
    message = str(caught.value)
    assert "split" in message and repr(split) in message and "'test'" in message


@pytest.mark.parametrize("split", ["valid", "Test", ""])
def test_an_unknown_split_is_a_value_error_naming_the_choices(no_network, split):
    with pytest.raises(ValueError) as caught:
        data.load_fashion_mnist(split)
    message = str(caught.value)
    assert f"got {split!r}" in message
    assert "'train'" in message and "'test'" in message


@pytest.mark.parametrize("download", ["no", "False", 0, 1, None])
def test_a_download_that_is_not_a_bool_is_a_type_error(fake, download):
    with pytest.raises(TypeError) as caught:
        data.load_fashion_mnist("test", download=download)
    message = str(caught.value)
    assert "download" in message and repr(download) in message


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
    # each image one or the other
    assert all(f != k for f, k in zip(flipped, kept))
    # about half, for this seed
    assert 16 < sum(flipped) < 48
