"""Explorers: the render functions, the live widgets' update paths
and the no-kernel galleries."""

from __future__ import annotations

import base64
import io
import re

import matplotlib
import pytest

matplotlib.use("Agg")

import torch  # noqa: E402

import vitbook  # noqa: E402
from vitbook.widgets import PatchExplorer, SimilarityExplorer, static_gallery  # noqa: E402

IMAGE = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
ALT = re.compile(r'<img class="vb-frame[^"]*" alt="([^"]*)"')


@pytest.fixture(scope="module")
def photo():
    return vitbook.to_tensor(vitbook.load_photo("astronaut"))


def gallery_images(html: str) -> list[str]:
    return IMAGE.findall(html)


def frame_size(png_base64: str) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(png_base64))).size


def test_static_gallery_has_one_button_and_one_distinct_image_per_state(photo):
    explorer = PatchExplorer(photo)
    html = explorer.gallery([(16, 0), (16, 37), (32, 5)])
    images = gallery_images(html)
    assert len(images) == 3 and len(set(images)) == 3
    assert html.count('type="radio"') == 3 and html.count(" checked") == 1
    for label in ("P=16, patch 0", "P=16, patch 37", "P=32, patch 5"):
        assert f">{label}</label>" in html
    assert "<script" not in html  # works with no JavaScript and no kernel
    # PNG frames at least 1000 pixels wide, so their text stays sharp at page width
    assert all(frame_size(image)[0] >= 1000 for image in images)


def test_every_gallery_frame_has_an_alt_text_saying_what_it_shows(photo):
    html = PatchExplorer(photo).gallery([(16, 34), (56, 1)])
    alts = ALT.findall(html)
    assert len(alts) == 2 and len(set(alts)) == 2
    assert "patch 34 (row 2, column 6)" in alts[0] and "14 by 14 grid" in alts[0]
    assert "patch 1 (row 0, column 1)" in alts[1] and "9408 values" in alts[1]


def test_static_gallery_rejects_bad_names_and_frames_without_alt_text():
    with pytest.raises(ValueError, match="lower-case"):
        static_gallery("Bad Name", [])
    with pytest.raises(ValueError, match="at least one frame"):
        static_gallery("empty", [])
    fig = PatchExplorer(torch.rand(1, 3, 32, 32), patch_sizes=(16,)).render(16, 0)
    with pytest.raises(ValueError, match="non-empty alt text"):
        static_gallery("no-alt", [("a state", fig)])
    with pytest.raises(ValueError, match="non-empty alt text"):
        static_gallery("empty-alt", [("a state", fig, " ")])


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


def test_live_widget_shows_exactly_the_latest_figure_in_its_output_area(
    photo, monkeypatch
):
    """The figure goes into the output widget's state (replaced on each change),
    never into the cell's output."""
    import IPython

    class Formatter:
        def format(self, fig):
            # the enlarged patch's title
            return {"text/plain": fig.axes[1].get_title()}, {}

    class Shell:
        display_formatter = Formatter()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    box = PatchExplorer(photo).widget()
    out = box.children[-1]
    assert [o["data"]["text/plain"] for o in out.outputs] == [
        "patch 0 (row 0, col 0)\n16x16x3"
    ]
    box.controls["index"].value = 34
    assert [o["data"]["text/plain"] for o in out.outputs] == [
        "patch 34 (row 2, col 6)\n16x16x3"
    ]


def test_position_explorer_render_maps_queries_onto_an_extra_grid():
    import torch

    from vitbook.widgets import PositionExplorer

    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    explorer = PositionExplorer(
        grid=14, dim=128, extra={"trained": torch.randn(1, 16, 32)}
    )
    # the explorer seeds its learned table without resetting ours
    assert torch.rand(1) != before
    kinds = ["none", "learned, at init", "1-D sinusoidal", "2-D sine-cosine", "trained"]
    assert list(explorer.tables) == kinds
    fig = explorer.render(13, 0)
    titles = " | ".join(ax.get_title() for ax in fig.axes)
    assert (
        "2-D sine-cosine\nquery (13, 0)" in titles
        and "query (3, 0) of its 4x4 grid" in titles
    )
    sims = explorer.similarities(5, 6)
    assert sims["2-D sine-cosine"][5 * 14 + 6] == pytest.approx(1.0, abs=1e-6)
    assert (sims["none"] == 0).all() and sims["trained"].shape == (16,)
    with pytest.raises(ValueError, match="outside the 14x14 grid"):
        explorer.render(14, 0)
    with pytest.raises(ValueError, match="square number"):
        PositionExplorer(extra={"with class token": torch.randn(1, 17, 32)})


def test_position_explorer_live_widget_updates_and_gallery_frames_differ():
    from vitbook.widgets import PositionExplorer

    explorer = PositionExplorer(grid=6, dim=32)
    box = explorer.widget()
    assert "needs a running kernel" in repr(box)
    row, col = box.controls["row"], box.controls["col"]
    assert row.max == 5 and col.max == 5
    row.value, col.value = 4, 2
    fig = box.update()
    assert "query (4, 2)" in " ".join(ax.get_title() for ax in fig.axes)
    html = explorer.gallery([(0, 0), (2, 3), (5, 5)])
    images = gallery_images(html)
    assert len(images) == 3 and len(set(images)) == 3
    assert ">row 2, column 3</label>" in html and "<script" not in html
    alts = ALT.findall(html)
    assert "none: every position the same zero vector" in alts[0]
    # the 2-D table's alt text reports its neighbours as more alike than far positions
    near, far = re.search(
        r"2-D sine-cosine: (-?[0-9.]+) to the next positions, (-?[0-9.]+) at", alts[1]
    ).groups()
    assert float(near) > float(far)


# --- the similarity explorer ----------------------------------------------------------


def test_similarity_explorer_render_shows_every_space(photo):
    explorer = SimilarityExplorer(photo)
    assert list(explorer.spaces) == [
        "raw pixels (768 values)",
        "random PatchEmbedding (128 values)",
    ]
    fig = explorer.render(47)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert (
        "patch 47 (row 3, column 5)" in titles
        and "raw pixels" in titles
        and "random PatchEmbedding" in titles
    )
    sims = explorer.similarities(47)
    for values in sims.values():
        assert values.shape == (196,) and values[47].item() == pytest.approx(
            1.0, abs=1e-5
        )
    with pytest.raises(ValueError, match=r"out of range for 196 patches: 0 .. 195"):
        explorer.render(196)
    with pytest.raises(ValueError, match="center must be one of"):
        explorer.similarities(0, center="median")


def test_similarity_explorer_default_embedding_is_seeded_and_leaves_global_seed_alone(
    photo,
):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = SimilarityExplorer(photo)
    # the caller's random stream is untouched
    assert torch.equal(torch.rand(3), expected)
    second = SimilarityExplorer(photo)
    for name in first.spaces:
        assert torch.equal(first.spaces[name], second.spaces[name])


def test_similarity_explorer_takes_other_embeddings_and_checks_their_shape(photo):
    torch.manual_seed(0)
    trained = vitbook.PatchEmbedding(16, 3, 64)
    explorer = SimilarityExplorer(
        photo,
        embeddings={
            "trained": trained,
            "identity": lambda im: vitbook.patchify(im, 16),
        },
    )
    assert list(explorer.spaces)[1:] == ["trained (64 values)", "identity (768 values)"]
    sims = explorer.similarities(10)
    assert torch.allclose(
        sims["identity (768 values)"], sims["raw pixels (768 values)"]
    )
    # photo, three heat maps, colour bar
    assert len(explorer.render(10).axes) == 1 + 3 + 1
    with pytest.raises(
        ValueError, match=r"must map the image to \(1, N, D\) = \(1, 196, D\)"
    ):
        SimilarityExplorer(
            photo, embeddings={"wrong grid": vitbook.PatchEmbedding(32, 3, 64)}
        )


def test_similarity_explorer_centring_over_patches_cancels_the_bias(photo):
    torch.manual_seed(0)
    with_bias = vitbook.PatchEmbedding(16, 3, 128)
    without_bias = vitbook.PatchEmbedding(16, 3, 128)
    without_bias.load_state_dict(with_bias.state_dict())
    with torch.no_grad():
        with_bias.proj.bias.fill_(3.0)  # a large bias swamps the raw cosines ...
        without_bias.proj.bias.zero_()
    explorer = SimilarityExplorer(
        photo, embeddings={"bias": with_bias, "no bias": without_bias}
    )
    raw = explorer.similarities(60)
    assert not torch.allclose(
        raw["bias (128 values)"], raw["no bias (128 values)"], atol=1e-2
    )
    # ... centring removes it exactly
    centred = explorer.similarities(60, center="mean over patches")
    assert torch.allclose(
        centred["bias (128 values)"], centred["no bias (128 values)"], atol=1e-4
    )


def test_similarity_explorer_live_widget_updates(photo):
    box = SimilarityExplorer(photo).widget()
    assert "needs a running kernel" in repr(box)
    index, center = box.controls["index"], box.controls["center"]
    assert index.max == 195 and center.value == "none"
    index.value = 150
    center.value = "each vector"
    fig = box.update()
    titles = " ".join(ax.get_title() for ax in fig.axes) + fig.get_suptitle()
    assert "patch 150" in titles and "centred: each vector" in titles


def test_similarity_explorer_gallery_frames_are_distinct(photo):
    html = SimilarityExplorer(photo).gallery([0, 47, (47, "mean over patches")])
    images = gallery_images(html)
    assert len(images) == 3 and len(set(images)) == 3
    for label in ("patch 0", "patch 47", "patch 47, centred: mean over patches"):
        assert f">{label}</label>" in html
    alts = ALT.findall(html)
    assert "patch 47 (row 3, column 5)" in alts[1] and "most similar patch" in alts[1]
    assert "after centring (mean over patches)" in alts[2]
