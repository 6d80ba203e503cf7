"""Checks of what a reader passes in, written once and used by every module.

Each check returns the value it accepts (so ``dim = positive_int(dim, "dim")`` reads as
one step) and otherwise raises at the boundary: ``TypeError`` for a value of the wrong
type, ``ValueError`` for a value of the right type that cannot work. Every message names
the argument, the value received and what to do. Images that are probably on the wrong
scale (0–255, or already normalised) are a warning, ``InputRangeWarning``, because a
float image may be outside [0, 1] on purpose.

The command lines take the same checks as ``argparse`` types (``arg_type``), so a bad
flag is refused before a run starts, and ``output_file`` checks where a run will write
before it spends its time.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import numbers
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

__all__ = [
    "InputRangeWarning",
    "add_output_flags",
    "arg_type",
    "checked_output",
    "choice",
    "distinct_flags",
    "finite",
    "images",
    "index",
    "instance",
    "int_at_least",
    "nonnegative_int",
    "number",
    "output_file",
    "positive_int",
    "positive_number",
]


class InputRangeWarning(UserWarning):
    """Images whose values lie clearly outside the range the function expects."""


def _shown(value: object) -> str:
    """A value as a message shows it: short, with its type when that is the news."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, (bool, str)) or value is None:
        return text
    return f"{text} ({type(value).__name__})"


def instance(value, name: str, types: type | tuple[type, ...], what: str = ""):
    """``value`` if it is one of ``types``; else ``TypeError`` naming ``what`` it
    should be."""
    if isinstance(value, types):
        return value
    if not what:
        names = types if isinstance(types, tuple) else (types,)
        what = " or ".join(t.__name__ for t in names)
    raise TypeError(f"{name} must be {what}, got {_shown(value)}")


def int_at_least(
    value, name: str, minimum: int | None, maximum: int | None = None
) -> int:
    """``value`` as an ``int`` if it is a whole number ``>= minimum`` (None: any) and
    ``<= maximum`` (None: any).

    A bool, a float (even 4.0), a string or a tensor is a ``TypeError``: a size must
    be an int. NumPy and torch integer scalars are accepted (as ``int``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            hint = f"; pass {int(value)}"
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            hint = f"; pass the number {value.strip()}, not a string"
        else:
            hint = ""
        raise TypeError(f"{name} must be an int, got {_shown(value)}{hint}")
    value = int(value)
    if minimum is not None and value < minimum:
        need = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {need}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an int <= {maximum}, got {value}")
    return value


def positive_int(value, name: str) -> int:
    """``value`` if it is an int ``>= 1`` (a size, a count, a dimension)."""
    return int_at_least(value, name, 1)


def nonnegative_int(value, name: str) -> int:
    """``value`` if it is an int ``>= 0`` (a count that may be zero, a seed)."""
    return int_at_least(value, name, 0)


def number(
    value,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a ``float`` if it is a finite real number in the given range.

    ``low`` and ``high`` are the bounds (None: none); ``low_open`` / ``high_open``
    exclude them. A bool or a string is a ``TypeError``; NaN, infinity or a value out
    of range a ``ValueError``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_shown(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        right = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        need = " and ".join(part for part in (left, right) if part)
        raise ValueError(f"{name} must be {need}, got {value:g}")
    return value


def positive_number(value, name: str) -> float:
    """``value`` if it is a finite number ``> 0`` (a rate, a temperature, a std)."""
    return number(value, name, low=0.0, low_open=True)


def index(value, name: str, count: int, what: str) -> int:
    """``value`` if it is a position ``0 .. count - 1`` in ``what`` (a grid, a
    sequence); else a ``TypeError`` or a ``ValueError`` giving the range."""
    value = nonnegative_int(value, name)
    if value >= count:
        raise ValueError(f"{name} {value} is out of range for {what}: 0 .. {count - 1}")
    return value


def choice(value, name: str, choices: Iterable):
    """``value`` if it is one of ``choices``; else a ``ValueError`` listing them (and
    the closest one, for a typo)."""
    choices = tuple(choices)
    if value in choices:
        return value
    if (
        choices
        and all(isinstance(c, str) for c in choices)
        and not isinstance(value, str)
    ):
        raise TypeError(
            f"{name} must be a string, one of {', '.join(map(repr, choices))}; "
            f"got {_shown(value)}"
        )
    close = (
        difflib.get_close_matches(value, [str(c) for c in choices], n=1)
        if isinstance(value, str)
        else []
    )
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}{hint}"
    )


def finite(tensor: torch.Tensor, name: str, why: str = "") -> torch.Tensor:
    """``tensor`` if it holds no NaN and no infinity; else a ``ValueError`` counting
    them."""
    if tensor.is_meta or not tensor.is_floating_point():
        return tensor
    bad = ~torch.isfinite(tensor)
    if bad.any():
        count = int(bad.sum())
        nans = int(torch.isnan(tensor).sum())
        raise ValueError(
            f"{name} holds {count} non-finite values ({nans} NaN, "
            f"{count - nans} infinite) of {tensor.numel()}{why}; find where they "
            "come from (torch.isfinite(x).all(dim=...)) or drop those images"
        )
    return tensor


#: How far outside [0, 1] images may go before ``images`` warns: resampling
#: overshoots a little, 0–255 images or normalised ones (mean 0, std 1) go far beyond.
UNIT_SLACK = 0.5

#: The largest value a normalised image plausibly holds (a pixel of 1 normalised by a
#: small std); beyond it, layer-level modules warn that the images look like 0–255.
NORMALISED_LIMIT = 10.0


def images(
    value,
    name: str = "images",
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    expect: str = "unit",
    batch: bool = True,
    needs_float: bool = True,
    no_nan: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``value`` if it is a batch of images ``(B, C, H, W)`` as the caller expects.

    * a NumPy array or a list: ``TypeError`` (convert with ``vitbook.to_tensor`` or
      ``torch.as_tensor``); an integer or bool tensor (e.g. the uint8 images of
      ``load_fashion_mnist``): ``TypeError`` saying how to scale it to [0, 1], unless
      ``needs_float=False``;
    * the wrong number of axes: ``ValueError`` saying how to add or drop the batch and
      channel axes; with ``batch=False``, a single ``(C, H, W)`` image is wanted;
    * ``channels``: the channel count ``C``; an image that looks channels-last
      ``(B, H, W, C)`` gets a ``ValueError`` saying how to permute it;
    * ``size``: ``(H, W)`` must match;
    * ``expect="unit"``: values in [0, 1]; far outside that (0–255, or normalised),
      an ``InputRangeWarning`` naming the range seen. ``"normalised"``: [0, 1] or
      normalised values are both fine, only 0–255-like values warn. ``"any"``: no
      range check;
    * ``no_nan``: NaN or infinity is a ``ValueError`` (where it would poison state:
      BatchNorm's running statistics, a training step's weights);
    * ``dtype``: the float type of the weights the images meet (float64 images from
      ``torch.as_tensor(array)`` against float32 weights are a ``TypeError``).
    """
    layout = "(B, C, H, W)" if batch else "(C, H, W)"
    if not isinstance(value, torch.Tensor):
        hint = (
            "; for an (H, W, C) uint8 photo use vitbook.to_tensor(photo), otherwise "
            "torch.as_tensor(array)"
            if hasattr(value, "__array__") or isinstance(value, (list, tuple))
            else ""
        )
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {layout}, "
            f"got {type(value).__name__}{hint}"
        )
    shape = tuple(value.shape)
    if needs_float and not value.is_floating_point():
        scale = (
            "images.float() / 255 (for Fashion-MNIST: x[:, None].float() / 255 "
            "gives (B, 1, 28, 28) in [0, 1])"
            if value.dtype == torch.uint8
            else "images.float(), scaled to [0, 1]"
        )
        raise TypeError(
            f"{name} must be float images in [0, 1], got dtype {value.dtype} "
            f"(shape {shape}); convert with {scale}"
        )
    if dtype is not None and value.is_floating_point() and value.dtype != dtype:
        cast = {torch.float32: "float()", torch.float64: "double()"}
        raise TypeError(
            f"{name} are {value.dtype}, but the weights are {dtype}: convert with "
            f"images.{cast.get(dtype, f'to({dtype})')}"
        )
    want = 4 if batch else 3
    if value.ndim != want:
        if batch and value.ndim == 3:
            hint = (
                "; a batch of one-channel images (B, H, W)? add the channel axis "
                "with images[:, None]; a single (C, H, W) image? add the batch axis "
                "with images[None]"
            )
        elif batch and value.ndim == 2:
            hint = "; a single (H, W) image? use images[None, None]"
        elif not batch and value.ndim == 4 and shape[0] == 1:
            hint = "; drop the batch axis with images[0]"
        else:
            hint = ""
        raise ValueError(f"{name} must have shape {layout}, got {shape}{hint}")
    c, h, w = shape[-3:]
    if channels is not None and c != channels:
        if w == channels and c not in (1, 3, 4):
            permute = (
                "images.permute(0, 3, 1, 2)" if batch else "images.permute(2, 0, 1)"
            )
            raise ValueError(
                f"{name} of shape {shape} look channels-last "
                f"{'(B, H, W, C)' if batch else '(H, W, C)'}; "
                f"this takes channels first {layout} with C = {channels}: "
                f"use {permute}"
            )
        raise ValueError(
            f"{name} must have {channels} channels in {layout}, got shape {shape}"
        )
    if channels is None and w in (1, 3, 4) and c > 4 and h > 4:
        permute = "images.permute(0, 3, 1, 2)" if batch else "images.permute(2, 0, 1)"
        raise ValueError(
            f"{name} of shape {shape} look channels-last "
            f"{'(B, H, W, C)' if batch else '(H, W, C)'} with C = {w}; this takes "
            f"channels first {layout}: use {permute}"
        )
    if size is not None and (h, w) != tuple(size):
        raise ValueError(
            f"{name} must be {size[0]}x{size[1]} pixels, got {h}x{w} "
            f"(shape {shape}); resize or crop them to {size[0]}x{size[1]}"
        )
    if no_nan:
        finite(
            value, name, why=", which would poison the running statistics or weights"
        )
    if expect != "any" and value.is_floating_point() and not value.is_meta:
        _check_range(value, name, expect)
    return value


def _check_range(value: torch.Tensor, name: str, expect: str) -> None:
    if value.numel() == 0:
        return
    low, high = (float(v) for v in torch.aminmax(value.detach().float()))
    if not (math.isfinite(low) and math.isfinite(high)):
        return
    seen = f"values in [{low:.3g}, {high:.3g}]"
    if high > NORMALISED_LIMIT:
        warnings.warn(
            f"{name} hold {seen}: they look like 0-255 pixel values; "
            "divide by 255 to get images in [0, 1]",
            InputRangeWarning,
            stacklevel=3,
        )
    elif expect == "unit" and (low < -UNIT_SLACK or high > 1 + UNIT_SLACK):
        warnings.warn(
            f"{name} hold {seen}, but should be in [0, 1]: they look normalised "
            "already; pass the images in [0, 1], the model subtracts its own mean "
            "and divides by its own std",
            InputRangeWarning,
            stacklevel=3,
        )


def arg_type(check: Callable, *args, **kwargs) -> Callable[[str], object]:
    """An ``argparse`` type: parse the flag's text as a number, then ``check`` it;
    a bad value is argparse's usage error naming the flag, before the run starts.

    ``check`` is one of this module's checks (``positive_int``, ``number``, ...);
    ``args`` and ``kwargs`` are its further arguments after the value and the name.
    """
    integral = check in (positive_int, nonnegative_int, int_at_least)

    def parse(text: str):
        try:
            value = int(text) if integral else float(text)
        except ValueError:
            kind = "an int" if integral else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return check(value, "the value", *args, **kwargs)
        except (TypeError, ValueError) as error:
            message = str(error).removeprefix("the value ")
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = check.__name__
    return parse


def output_file(path: Path | str, name: str = "--out", overwrite: bool = False) -> Path:
    """``path`` as a ``Path`` if a run can write its result there: not a folder, its
    folder existing or creatable and writable, and (unless ``overwrite``) no file there
    yet. Checked before a long run, so that a bad path loses no work."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{name} {path} is a folder; give a file name inside it, e.g. "
            f"{path / 'result.json'}"
        )
    if path.exists() and not overwrite:
        raise ValueError(
            f"{name} {path} exists already; pass --overwrite to replace it, or "
            "choose another file"
        )
    folder = path.parent
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{name} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"{name} {path}: cannot write in {existing}; choose a folder you can "
            "write to"
        )
    return path


def add_output_flags(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    """``--out`` (default ``default``, in the current folder) and ``--overwrite``, the
    two flags of every script that writes a result."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(default),
        help=(
            f"where to write {what} (default: {default} in this folder; the book's "
            "own copy inside vitbook/ is replaced only with --overwrite)"
        ),
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists"
    )


def checked_output(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *suffixes: str
) -> None:
    """Refuse, as a usage error before the run starts, an ``--out`` the run could not
    write or would overwrite without ``--overwrite`` (each of ``suffixes`` in turn,
    for a result written as several files)."""
    paths = [args.out.with_suffix(s) for s in suffixes] if suffixes else [args.out]
    for path in paths:
        try:
            output_file(path, "--out", overwrite=args.overwrite)
        except ValueError as error:
            parser.error(str(error))


def write_record(path: Path, record: dict) -> None:
    """Write a script's results ``record`` to ``path`` (checked by ``checked_output``
    before the run) as JSON, creating its folder: one format for every script."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def distinct_flags(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *flags: str
) -> None:
    """Refuse, as a usage error, a list flag (``nargs="+"``) that repeats a value:
    each run would be made twice."""
    for flag in flags:
        values = getattr(args, flag.replace("-", "_"))
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            parser.error(
                f"--{flag} repeats {', '.join(repeated)}: each run would be made "
                "twice; give each value once"
            )
