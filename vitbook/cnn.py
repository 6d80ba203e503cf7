"""The small CNN the book sets beside its tiny ViT: ``SmallCNN`` with ``REFERENCE_CNN``.

A plain convolutional network with about the same number of parameters and FLOPs as the
tiny ViT (``vitbook.REFERENCE_MODEL``). ``python -m vitbook.experiments.cnn_baseline``
trains it with the ViT's recipe and writes ``results/cnn_baseline.json``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["REFERENCE_CNN", "SmallCNN"]


#: The CNN of the committed results: six 3x3 convolutions (28x28 -> 14x14 -> 7x7), then
#: global average pooling and a linear head. Its widths were chosen so that its
#: parameters and FLOPs are within a few per cent of the tiny ViT's (the script
#: ``vitbook.experiments.cnn_baseline`` records both, and a test checks it).
REFERENCE_CNN = {
    "channels": 1,
    "num_classes": 10,
    "widths": [32, 64, 128, 128, 128, 128],
    "strides": [1, 2, 2, 1, 1, 1],
}


class SmallCNN(nn.Module):
    """Images ``(B, channels, H, W)`` in [0, 1] -> ``(B, num_classes)`` logits.

    Normalises with ``(x - mean) / std`` inside ``forward``, as ``vitbook.ViT`` does,
    then one [3x3 convolution (stride ``strides[k]``, padding 1, no bias) ->
    BatchNorm -> ReLU] per entry of ``widths``, global average pooling and a linear
    head.
    """

    def __init__(
        self,
        channels: int = 1,
        num_classes: int = 10,
        widths: list[int] | tuple[int, ...] = tuple(REFERENCE_CNN["widths"]),
        strides: list[int] | tuple[int, ...] = tuple(REFERENCE_CNN["strides"]),
        mean: float | tuple[float, ...] = 0.5,
        std: float | tuple[float, ...] = 0.5,
    ):
        super().__init__()
        widths, strides = list(widths), list(strides)
        if len(widths) != len(strides) or not widths:
            raise ValueError(
                f"widths and strides must be non-empty lists of one length, got "
                f"{len(widths)} widths and {len(strides)} strides"
            )
        for name, values in (("widths", widths), ("strides", strides)):
            if not all(type(v) is int and v > 0 for v in values):
                raise ValueError(f"{name} must be positive ints, got {values}")
        for name, value in (("channels", channels), ("num_classes", num_classes)):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.channels = channels
        self.register_buffer(
            "mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        )
        self.register_buffer(
            "std", torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        )
        layers, c_in = [], channels
        for c_out, stride in zip(widths, strides):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.channels:
            raise ValueError(
                f"expected images of shape (B, {self.channels}, H, W), "
                f"got {tuple(images.shape)}"
            )
        x = self.features((images - self.mean) / self.std)  # (B, C', H', W')
        return self.head(x.mean(dim=(2, 3)))  # global average pool -> (B, classes)
