"""Explorers: the render functions, the live widgets' update paths and the no-kernel galleries."""

from __future__ import annotations

import re

import matplotlib
import pytest

matplotlib.use("Agg")

import vitbook  # noqa: E402
from vitbook.widgets import PatchExplorer, static_gallery  # noqa: E402

IMAGE = re.compile(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def photo():
    return vitbook.to_tensor(vitbook.load_photo("astronaut"))


def gallery_images(html: str) -> list[str]:
    return IMAGE.findall(html)


def test_static_gallery_has_one_button_and_one_distinct_image_per_state(photo):
    explorer = PatchExplorer(photo)
    html = explorer.gallery([(16, 0), (16, 37), (32, 5)])
    images = gallery_images(html)
    assert len(images) == 3 and len(set(images)) == 3
    assert html.count('type="radio"') == 3 and html.count(" checked") == 1
    for label in ("P=16, patch 0", "P=16, patch 37", "P=32, patch 5"):
        assert f">{label}</label>" in html
    assert "<script" not in html  # works with no JavaScript and no kernel


def test_static_gallery_rejects_bad_names():
    with pytest.raises(ValueError, match="lower-case"):
        static_gallery("Bad Name", [])
    with pytest.raises(ValueError, match="at least one frame"):
        static_gallery("empty", [])


def test_patch_explorer_render_and_errors(photo):
    explorer = PatchExplorer(photo)
    fig = explorer.render(16, 195)
    assert "patch 195" in " ".join(ax.get_title() for ax in fig.axes)
    with pytest.raises(ValueError, match="out of range for patch size 16: 0 .. 195"):
        explorer.render(16, 196)
    with pytest.raises(ValueError, match="not a multiple of patch size 15"):
        PatchExplorer(photo, patch_sizes=(15,))


def test_patch_explorer_live_widget_updates(photo):
    box = PatchExplorer(photo).widget()
    assert "needs a running kernel" in repr(box)
    size, index = box.controls["patch_size"], box.controls["index"]
    assert index.max == 195
    size.value = 32  # the slider's range follows the grid: 7 x 7 = 49 patches
    assert index.max == 48
    index.value = 48
    fig = box.update()
    assert "patch 48" in " ".join(ax.get_title() for ax in fig.axes)
