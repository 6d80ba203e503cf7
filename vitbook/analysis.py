"""The book's analyses of a trained ViT, in one call: the three panels of the ViT
paper's Figure 7 and the class token's attention (book/08_position_embeddings.ipynb and
book/11_looking_inside.ipynb build each one).

``figure7(model, images)`` computes them for any ``vitbook.ViT`` (the book's tiny
model, or a published ViT-B/16 converted with ``vitbook.convert.vit_from``);
``draw_figure7(report)`` draws them.
"""

from __future__ import annotations

import torch

from . import checks
from .embedding import cosine_similarity_matrix
from .model import ViT, mean_attention_distance

__all__ = ["figure7", "draw_figure7"]


@torch.no_grad()
def figure7(model: ViT, images: torch.Tensor, components: int = 28) -> dict:
    """Figure 7 of the ViT paper for ``model`` on ``images`` ``(B, C, S, S)``:

    - ``components`` ``(K, P*P*C)``: the first K principal components of the patch
      embedding's filters (the rows of its ``(D, P*P*C)`` weight, centred), with
      ``explained`` ``(K,)``, each one's share of their variance (left panel);
    - ``position_similarity`` ``(N, N)``: the cosine similarity of every two rows of
      the position table, class token excluded (centre panel);
    - ``attention_distance`` ``(depth, heads)``: each head's mean attention distance in
      pixels over ``images`` (right panel), and ``uniform_distance``, what uniform
      attention gives on this grid (the reference line);
    - ``cls_attention`` ``(B, N)``: the class token's attention on the patches in the
      last block, mean over heads (the maps of 11_looking_inside.ipynb); ``None``
      with mean pooling.
    """
    checks.instance(model, "model", ViT, "a vitbook.ViT")
    components = checks.positive_int(components, "components")
    if model.num_prefix_tokens > (1 if model.pool == "cls" else 0):
        raise ValueError(
            f"figure7 reads models without registers; this one has "
            f"{model.num_prefix_tokens - 1} (registers={model.registers.shape[1]})"
        )
    if not isinstance(images, torch.Tensor) or len(images) == 0:
        checks.images(images)
        raise ValueError("images is empty: figure7 needs at least one image")
    proj = getattr(model.patch_embed, "proj", None)
    if proj is None or not isinstance(proj, torch.nn.Linear):
        raise ValueError(
            "figure7 reads the filters of a linear patch embedding; this model's "
            f"embedding is {type(model.patch_embed).__name__}"
        )
    model.eval()
    filters = proj.weight.float()  # (D, P*P*C)
    centred = filters - filters.mean(dim=0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    k = min(components, vh.shape[0])
    variance = s**2
    table = model.position_table()[0, -model.num_patches :]  # (N, D)
    maps = model.attention_maps(images)  # depth x (B, heads, T, T)
    # (depth, heads): each head's distance, layer by layer
    distance = torch.stack(
        [mean_attention_distance(a, model.grid_size, model.patch_size) for a in maps]
    )
    n = model.num_patches
    uniform = torch.full((1, 1, n, n), 1.0 / n)
    uniform_distance = mean_attention_distance(
        uniform, model.grid_size, model.patch_size
    ).item()
    cls_attention = maps[-1][:, :, 0, 1:].mean(dim=1) if model.pool == "cls" else None
    return {
        "patch_size": model.patch_size,
        "channels": model.channels,
        "grid_size": model.grid_size,
        "components": vh[:k],
        "explained": variance[:k] / variance.sum(),
        "position_table": table,
        "position_similarity": cosine_similarity_matrix(table),
        "attention_distance": distance,
        "uniform_distance": uniform_distance,
        "cls_attention": cls_attention,
    }


def draw_figure7(report: dict, title: str = "Figure 7, for this model"):
    """The three panels of ``figure7(...)``'s report in one figure: the filters'
    principal components, the position-similarity maps of every second query row and
    column, and the mean attention distance of every head against the layer, beside
    the uniform-attention distance. Returns the figure."""
    from matplotlib import pyplot as plt

    from .plots import draw_filter_mosaic, draw_similarity_maps

    checks.instance(report, "report", dict, "the dict figure7(model, images) returns")
    needed = (
        "patch_size",
        "grid_size",
        "components",
        "position_table",
        "attention_distance",
        "uniform_distance",
    )
    missing = [key for key in needed if key not in report]
    if missing:
        raise ValueError(
            f"report lacks {', '.join(missing)}; pass what figure7(model, images) "
            "returns"
        )
    p, rows = report["patch_size"], report["grid_size"][0]
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.9), layout="constrained")
    draw_filter_mosaic(axes[0], report["components"], p, per_row=7)
    axes[0].set_title("embedding filters:\nprincipal components", fontsize=8)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    image = draw_similarity_maps(axes[1], report["position_table"], rows, stride=2)
    axes[1].set_title("position similarity\n(every 2nd query)", fontsize=8)
    fig.colorbar(image, ax=axes[1], shrink=0.7, label="cosine")
    distance = report["attention_distance"]
    depth, heads = distance.shape
    for layer in range(depth):
        axes[2].plot([layer + 1] * heads, distance[layer], "o", color="C0", ms=3)
    axes[2].axhline(
        report["uniform_distance"], color="0.4", linestyle="--", label="uniform"
    )
    axes[2].set_xlabel("layer")
    axes[2].set_ylabel("mean attention distance (px)")
    axes[2].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig
