"""A small, seeded training loop for the book's experiments: fixed steps, AdamW,
warm-up + cosine."""

from __future__ import annotations

import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import checks

__all__ = [
    "Progress",
    "TrainConfig",
    "accuracy",
    "decay_split",
    "default_device",
    "machine_setup",
    "predictions",
    "train_classifier",
]


def default_device() -> torch.device:
    """A GPU when one is present (as on a Colab GPU runtime), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainConfig:
    """How long and how fast to train: ``steps`` mini-batches of ``batch_size``,
    peak ``lr``."""

    steps: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 20
    grad_clip: float = 1.0
    seed: int = 0
    label_smoothing: float = 0.0
    fused: bool = False  # AdamW's fused kernel: a few % faster, last bits differ
    log_every: int = 0  # 0: record the loss of every step, print nothing

    def __post_init__(self):
        # every field checked where the config is made, not at step 1 (or never)
        self.validate()

    def validate(self) -> None:
        """Check every field (``train_classifier`` checks again: a field may have been
        changed after the config was made)."""
        self.steps = checks.positive_int(self.steps, "steps")
        self.batch_size = checks.positive_int(self.batch_size, "batch_size")
        self.lr = checks.positive_number(self.lr, "lr")
        self.weight_decay = checks.number(self.weight_decay, "weight_decay", low=0)
        self.warmup_steps = checks.nonnegative_int(self.warmup_steps, "warmup_steps")
        if self.warmup_steps > self.steps:
            raise ValueError(
                f"warmup_steps {self.warmup_steps} is more than steps {self.steps}: "
                "the learning rate would never reach lr; use fewer warm-up steps"
            )
        self.grad_clip = checks.number(self.grad_clip, "grad_clip", low=0)
        self.seed = checks.nonnegative_int(self.seed, "seed")
        self.label_smoothing = checks.number(
            self.label_smoothing, "label_smoothing", low=0, high=1, high_open=True
        )
        checks.instance(self.fused, "fused", bool, "True or False")
        self.log_every = checks.nonnegative_int(self.log_every, "log_every")

    def recipe(self) -> dict:
        """Every field but the run's length, seed and logging: what a record of runs
        at several budgets and seeds shares."""
        skip = {"steps", "seed", "log_every"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


def machine_setup() -> dict:
    """What decides the last bits of a run on this machine: torch's version, the CPU
    kernels it uses (``ATEN_CPU_CAPABILITY``) and the CPU's maker. Two runs with the
    same setup, seed and data give the same numbers; with another, training carries
    last-bit differences along."""
    vendor = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    vendor = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_vendor": vendor,
    }


@dataclass
class TrainHistory:
    """What a run recorded: the loss of every step and the learning rate used."""

    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)


def _lr_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.5 * config.lr * (1 + math.cos(math.pi * progress))


def decay_split(
    model: nn.Module,
) -> tuple[list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    """Which trainable parameters get weight decay: ``(decay, no_decay)``, each a
    list of ``(name, parameter)``.

    As in timm: matrices and kernels decay; biases, norm scales (every parameter of
    fewer than 2 dimensions) and the names the model's ``no_weight_decay()`` returns
    (``cls_token`` and ``pos_embed`` for ``ViT``) do not. A name is exempt when it is
    one of those names, lies inside a wrapper (``encoder.pos_embed``), or belongs to a
    module of that name (``pos_embed_2d.rows``).
    """
    exempt = (
        set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    )

    def is_exempt(name: str) -> bool:
        # the name itself, or any module on its path: pos_embed, encoder.pos_embed,
        # pos_embed_2d.rows
        return any(e in name.split(".") for e in exempt)

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim < 2 or is_exempt(name):
            no_decay.append((name, param))
        else:
            decay.append((name, param))
    return decay, no_decay


def _check_data(
    images: torch.Tensor, labels: torch.Tensor, model: nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float images ``(M, ...)`` and integer labels ``(M,)`` (as int64), each a class
    of ``model`` (``0 .. classes - 1``, where its ``head`` says how many)."""
    checks.instance(images, "images", torch.Tensor, "a torch.Tensor (M, C, H, W)")
    checks.instance(labels, "labels", torch.Tensor, "a torch.Tensor (M,) of ints")
    if images.ndim == 4:
        checks.images(images, expect="any")
    elif not images.is_floating_point():
        raise TypeError(
            f"images must be float, got dtype {images.dtype}; for uint8 images use "
            "images.float() / 255"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"labels must be class indices (ints), got dtype {labels.dtype}; for "
            "one-hot labels use labels.argmax(dim=1)"
        )
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (M,), got {tuple(labels.shape)}")
    if len(images) != len(labels):
        raise ValueError(
            f"{len(images)} images but {len(labels)} labels: give one label per image"
        )
    head = getattr(model, "head", None)
    classes = head.out_features if isinstance(head, nn.Linear) else None
    if len(labels):
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or (classes is not None and high >= classes):
            limit = f"0 .. {classes - 1}" if classes else ">= 0"
            raise ValueError(
                f"labels must be class indices {limit} (the model's head has "
                f"{classes} outputs), got labels {low} .. {high}"
            )
    return images, labels.long()


class Progress:
    """How far a long run is: steps done of ``total``, images per second, the current
    loss and the time left.

    On a terminal it is a tqdm bar (``tqdm.auto``'s, a widget, in a notebook); where
    the output is not a terminal (a CI log, a file) it is a plain line through ``log``
    every ``every`` seconds and at the end; with ``log=None`` it shows nothing. It
    never prints into stdout's captured text on a terminal (tqdm writes to stderr).
    ``train_classifier(..., progress=bar)`` advances it by one step per mini-batch.
    """

    def __init__(self, total: int, what: str = "steps", log=print, every: float = 30.0):
        self.total = checks.positive_int(total, "total")
        self.what = what
        self.log = log
        self.every = checks.positive_number(every, "every")
        self.done, self.images, self.loss = 0, 0, None
        self.start = self.last = time.perf_counter()
        self.bar = None
        if log is not None and not callable(log):
            raise TypeError(
                f"log must be a function (such as print) or None, got {log!r}"
            )
        if log is not None and self._interactive():
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total, unit="step", desc=what, dynamic_ncols=True
            )

    @staticmethod
    def _interactive() -> bool:
        if "ipykernel" in sys.modules:
            return True
        return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def _rate(self) -> float:
        return self.images / max(time.perf_counter() - self.start, 1e-9)

    def update(
        self, steps: int = 1, images: int = 0, loss: float | None = None
    ) -> None:
        """``steps`` more done, on ``images`` images, the last with loss ``loss``."""
        self.done += steps
        self.images += images
        if loss is not None:
            self.loss = loss
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(steps)
            if now - self.last > 0.5 or self.done >= self.total:
                shown = {"img/s": f"{self._rate():.0f}"} if self.images else {}
                if self.loss is not None:
                    shown["loss"] = f"{self.loss:.3f}"
                self.bar.set_postfix(shown, refresh=False)
                self.last = now
        elif self.log is not None and now - self.last >= self.every:
            self.log(self.line())
            self.last = now

    def line(self) -> str:
        """The plain progress line: ``1,200/7,800 steps (15%), 9,600 img/s, loss
        0.531, 1 min 3 s elapsed, about 5 min 40 s left``."""
        elapsed = time.perf_counter() - self.start
        left = elapsed * (self.total - self.done) / self.done if self.done else None
        parts = [
            f"{self.done:,}/{self.total:,} {self.what} ({self.done / self.total:.0%})"
        ]
        if self.images:
            parts.append(f"{self._rate():,.0f} img/s")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        parts.append(f"{_duration(elapsed)} elapsed")
        if left is not None and self.done < self.total:
            parts.append(f"about {_duration(left)} left")
        return ", ".join(parts)

    def note(self, text: str) -> None:
        """A line of the run's own (a result), printed above the bar."""
        if self.bar is not None:
            self.bar.write(text)
        elif self.log is not None:
            self.log(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.log is not None and self.done:
            self.log(self.line())
            self.log = None


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig | None = None,
    augment=None,
    on_step=None,
    progress: Progress | None = None,
) -> TrainHistory:
    """Train ``model`` on ``(images, labels)`` for ``config.steps`` seeded mini-batches.

    ``images`` ``(M, ...)`` and ``labels`` ``(M,)`` stay where they are; each batch
    moves to the model's device. ``augment``, if given, maps ``(batch, generator)`` to
    an augmented batch; ``on_step``, if given, is called as
    ``on_step(steps_done, model)`` after every step; ``progress``, a ``Progress``,
    is advanced by every step. The same seed, data and model give the same run.
    """
    config = config or TrainConfig()
    checks.instance(model, "model", nn.Module, "an nn.Module")
    checks.instance(config, "config", TrainConfig, "a vitbook.TrainConfig or None")
    config.validate()
    for name, function in (("augment", augment), ("on_step", on_step)):
        if function is not None and not callable(function):
            raise TypeError(f"{name} must be a function or None, got {function!r}")
    checks.instance(progress, "progress", (Progress, type(None)), "a Progress or None")
    images, labels = _check_data(images, labels, model)
    if config.batch_size > len(images):
        raise ValueError(
            f"batch_size {config.batch_size} is more than the {len(images)} training "
            "images: every batch would repeat them; use a smaller batch_size or more "
            "images"
        )
    if next(model.parameters(), None) is None:
        raise ValueError(f"model {type(model).__name__} has no parameters to train")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(config.seed)
    decay, no_decay = decay_split(model)
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for _, p in decay], "weight_decay": config.weight_decay},
            {"params": [p for _, p in no_decay], "weight_decay": 0.0},
        ],
        lr=config.lr,
        fused=config.fused or None,
    )
    history = TrainHistory()
    model.train()
    order = torch.randperm(len(images), generator=generator)
    cursor = 0
    for step in range(config.steps):
        if cursor + config.batch_size > len(order):
            order, cursor = torch.randperm(len(images), generator=generator), 0
        index = order[cursor : cursor + config.batch_size]
        cursor += config.batch_size
        x, y = images[index].to(device), labels[index].to(device)
        if augment is not None:
            x = augment(x, generator)
            checks.instance(x, "what augment returned", torch.Tensor, "a batch tensor")
        # a NaN in one batch would make every weight NaN after this step
        checks.finite(x, f"the training batch of step {step + 1}")
        lr = _lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(model(x), y, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        history.losses.append(loss.item())
        history.lrs.append(lr)
        if progress is not None:
            progress.update(1, len(x), history.losses[-1])
        if config.log_every and (step + 1) % config.log_every == 0:
            print(f"step {step + 1:5d}  loss {loss.item():.3f}")
        if on_step is not None:
            on_step(step + 1, model)
            model.train()
    model.eval()
    return history


@torch.no_grad()
def predictions(
    model: nn.Module, images: torch.Tensor, batch_size: int = 512
) -> torch.Tensor:
    """The class ``model`` predicts for each of ``images`` ``(M, ...)``: ``(M,)``, in
    eval mode, ``batch_size`` images at a time."""
    checks.instance(model, "model", nn.Module, "an nn.Module")
    checks.instance(images, "images", torch.Tensor, "a torch.Tensor (M, C, H, W)")
    if images.ndim == 4:
        checks.images(images, expect="any")
    batch_size = checks.positive_int(batch_size, "batch_size")
    if len(images) == 0:
        raise ValueError("images is empty: there is nothing to predict")
    return _predict(model, images, batch_size)


def _predict(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    # the arithmetic of predictions(), on inputs already checked
    model.eval()
    device = next(model.parameters()).device
    return torch.cat(
        [
            model(images[start : start + batch_size].to(device)).argmax(dim=-1).cpu()
            for start in range(0, len(images), batch_size)
        ]
    )


@torch.no_grad()
def accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512
) -> float:
    """The fraction of ``images`` that ``model`` classifies as ``labels``
    (in eval mode)."""
    checks.instance(model, "model", nn.Module, "an nn.Module")
    images, labels = _check_data(images, labels, model)
    batch_size = checks.positive_int(batch_size, "batch_size")
    if len(images) == 0:
        raise ValueError("images is empty: there is no accuracy of no images")
    # the inputs are checked above: no second scan of the images
    correct = (_predict(model, images, batch_size) == labels).sum().item()
    return correct / len(images)
