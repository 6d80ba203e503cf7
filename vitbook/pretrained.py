"""What the book's scripts trained, shipped inside the package:
the tiny ViT and results files.

``python -m vitbook.experiments.fashion_vit --out vitbook/weights/fashion_vit
--overwrite`` wrote
``weights/fashion_vit.pt`` (the state dict) and ``weights/fashion_vit.json``
(configuration, seed, epochs, wall time, torch version, test accuracy, the
accuracy-vs-time curve and the SHA-256 of the ``.pt`` file).
``load_pretrained()`` checks that SHA-256 before ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from . import checks
from .model import ViT
from .recipes import initial_model

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
#: the command that trains the shipped checkpoint again
RETRAIN = "python -m vitbook.experiments.fashion_vit"


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


def _checkpoint_name(name, what: str = "name") -> str:
    checks.instance(name, what, str, "a checkpoint name such as 'fashion_vit'")
    if not name or "/" in name or "\\" in name or name.endswith((".pt", ".json")):
        raise ValueError(
            f"{what} must be a bare checkpoint name such as 'fashion_vit' (no folder, "
            f"no suffix), got {name!r}; give the folder as directory="
        )
    return name


def _read_record(path: Path, what: str) -> dict:
    """A JSON record: a dict, or an error naming the file and what to do."""
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); it was edited or damaged: restore "
            f"it (reinstall vitbook, or `git checkout {path.name}`) or {what}"
        ) from None
    if not isinstance(record, dict):
        raise ValueError(
            f"{path} holds a JSON {type(record).__name__}, not the record (an object); "
            f"restore it or {what}"
        )
    return record


def pretrained_info(name: str = "fashion_vit", directory: Path | None = None) -> dict:
    """The JSON record written beside the checkpoint ``name``."""
    name = _checkpoint_name(name)
    if directory is not None:
        checks.instance(directory, "directory", (str, Path), "a folder (str or Path)")
    record = Path(directory or WEIGHTS_DIR) / f"{name}.json"
    if not record.is_file():
        shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.json"))
        raise FileNotFoundError(
            f"no checkpoint record {record}; the package ships {shipped}; train one "
            "with `python -m vitbook.experiments.fashion_vit --out FOLDER/NAME` "
            "and pass directory=FOLDER"
        )
    info = _read_record(record, f"retrain with `{RETRAIN}`")
    problems = []
    if not isinstance(info.get("model"), dict):
        problems.append("'model' (the ViT's keyword arguments) is missing or no object")
    if not isinstance(info.get("sha256"), str):
        problems.append("'sha256' (the weights' checksum) is missing or no string")
    if problems:
        raise ValueError(
            f"{record} is not a checkpoint record: {'; '.join(problems)}; restore it "
            "or retrain with `python -m vitbook.experiments.fashion_vit`"
        )
    return info


def load_pretrained(
    name: str = "fashion_vit", directory: Path | None = None, device: str | None = None
) -> ViT:
    """The trained ViT ``name``, its SHA-256 checked, loaded with ``weights_only=True``,
    in eval mode."""
    info = pretrained_info(name, directory)
    if device is not None:
        checks.instance(device, "device", (str, torch.device), "'cpu', 'cuda' or None")
        try:
            kind = torch.device(device).type
        except RuntimeError:
            raise ValueError(
                f"device {device!r} is no torch device; use 'cpu', 'cuda' or 'mps'"
            ) from None
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r}: this machine has no CUDA GPU; use 'cpu' or "
                "vitbook.default_device()"
            )
    weights = Path(directory or WEIGHTS_DIR) / f"{name}.pt"
    if not weights.is_file():
        raise FileNotFoundError(
            f"{weights} is missing beside its record {weights.with_suffix('.json')}; "
            f"reinstall vitbook or retrain with `{RETRAIN}`"
        )
    digest = _sha256(weights)
    if digest != info["sha256"]:
        raise ValueError(
            f"{weights.name} has SHA-256 {digest}, but its record says "
            f"{info['sha256']}: the file is damaged or was replaced; "
            f"reinstall vitbook or retrain with `{RETRAIN}`"
        )
    try:
        model = ViT(**info["model"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"the 'model' entry of {weights.with_suffix('.json').name} does not build "
            f"a vitbook.ViT ({error}); the record was edited: restore it"
        ) from error
    state = torch.load(weights, map_location=device or "cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ValueError(
            f"{weights.name} does not fit the model its record describes ({first}); "
            "the record was edited, or the weights belong to another record: "
            "restore both from the same training run"
        ) from None
    return model.to(device or "cpu").eval()


def load_initial(name: str = "fashion_vit", directory: Path | None = None) -> ViT:
    """The model ``name`` as it was before its first training step, in eval mode.

    Rebuilt from the checkpoint's record (its model configuration, seed and stem) the
    way ``python -m vitbook.experiments.fashion_vit`` built it, so a chapter can
    compare the trained weights with their own random start.
    """
    info = pretrained_info(name, directory)
    if not isinstance(info.get("seed"), int) or isinstance(info.get("seed"), bool):
        raise ValueError(
            f"the record of {name!r} has no int 'seed', which its start is rebuilt "
            f"from (got {info.get('seed')!r}); restore the record"
        )
    stem = info.get("stem", {"kind": "patchify"})
    if not isinstance(stem, dict) or stem.get("kind") not in ("patchify", "conv"):
        raise ValueError(
            f"the record of {name!r} has a 'stem' entry {stem!r} without a kind "
            "'patchify' or 'conv'; restore the record"
        )
    model = initial_model(
        info["model"], info["seed"], stem["kind"], stem.get("channels")
    )
    return model.eval()


def load_results(name: str = "position_ablation") -> dict:
    """A results record shipped with the package (e.g. ``position_ablation``,
    ``conv_stem``)."""
    checks.instance(name, "name", str, "a results name such as 'position_ablation'")
    _checkpoint_name(name)
    shipped = sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        checks.choice(name, "name", shipped)
    return _read_record(
        path,
        f"rerun `python -m vitbook.experiments.{name} "
        f"--out vitbook/results/{name}.json --overwrite`",
    )
