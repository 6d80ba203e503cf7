"""What the book's scripts trained, shipped inside the package:
the tiny ViT and results files.

``python -m vitbook.train`` writes ``weights/fashion_vit.pt`` (the state dict) and
``weights/fashion_vit.json`` (configuration, seed, epochs, wall time, torch version,
test accuracy, the accuracy-vs-time curve and the SHA-256 of the ``.pt`` file).
``load_pretrained()`` checks that SHA-256 before ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .model import ViT

__all__ = [
    "RESULTS_DIR",
    "WEIGHTS_DIR",
    "load_initial",
    "load_pretrained",
    "load_results",
    "pretrained_info",
    "save_checkpoint",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_checkpoint(model: ViT, config: dict, info: dict, path: Path) -> dict:
    """Write ``path``.pt (state dict) and ``path``.json (``config``, ``info``, SHA-256);
    return the JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = path.with_suffix(".pt")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, weights)
    record = {"model": config, **info, "sha256": _sha256(weights)}
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def pretrained_info(name: str = "fashion_vit", directory: Path | None = None) -> dict:
    """The JSON record written beside the checkpoint ``name``."""
    record = Path(directory or WEIGHTS_DIR) / f"{name}.json"
    if not record.is_file():
        raise FileNotFoundError(
            f"no checkpoint record {record}; train one with `python -m vitbook.train`"
        )
    return json.loads(record.read_text())


def load_pretrained(
    name: str = "fashion_vit", directory: Path | None = None, device: str | None = None
) -> ViT:
    """The trained ViT ``name``, its SHA-256 checked, loaded with ``weights_only=True``,
    in eval mode."""
    info = pretrained_info(name, directory)
    weights = Path(directory or WEIGHTS_DIR) / f"{name}.pt"
    digest = _sha256(weights)
    if digest != info["sha256"]:
        raise ValueError(
            f"{weights.name} has SHA-256 {digest}, but its record says "
            f"{info['sha256']}: the file is damaged or was replaced; "
            "reinstall vitbook or retrain with `python -m vitbook.train`"
        )
    model = ViT(**info["model"])
    state = torch.load(weights, map_location=device or "cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device or "cpu").eval()


def load_initial(name: str = "fashion_vit", directory: Path | None = None) -> ViT:
    """The model ``name`` as it was before its first training step, in eval mode.

    Rebuilt from the checkpoint's record (its model configuration, seed and stem) the
    way ``python -m vitbook.train`` built it, so a chapter can compare the trained
    weights with their own random start.
    """
    from .train import initial_model

    info = pretrained_info(name, directory)
    stem = info.get("stem", {"kind": "patchify"})
    model = initial_model(
        info["model"], info["seed"], stem["kind"], stem.get("channels")
    )
    return model.eval()


def load_results(name: str = "position_ablation") -> dict:
    """A results record shipped with the package (e.g. ``position_ablation``,
    ``conv_stem``)."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no results file {path.name} in the package; "
            f"produce it with `python -m vitbook.{name}`"
        )
    return json.loads(path.read_text())
