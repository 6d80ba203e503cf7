"""vitbook: the helper package of the "Pixels to Tokens" book.

The library follows the book: ``images`` (the photos), ``patches`` (cutting images
up), ``embedding`` (the patch projection and the conv stem), ``position`` (position
tables and encodings), ``model`` (the encoder and the ViT), ``resolution`` (new image
and patch sizes), ``data`` (Fashion-MNIST and the arrangement task), ``training`` (the
training loop), ``recipes`` (the reference model and how it is trained), ``cnn`` (the
CNN beside it), ``pretrained`` (the shipped weights and records), ``analysis``,
``plots`` and ``widgets`` (figures and explorers), ``convert`` (weights to and from
torchvision, timm and transformers). ``checks`` holds the input checks they all use: a
wrong type is a ``TypeError``, a wrong value a ``ValueError`` naming the argument and
the value, and images on the wrong scale an ``InputRangeWarning``.

``vitbook.experiments`` holds the scripts that made the shipped weights and records
(``python -m vitbook.experiments.NAME``); nothing in the library imports them.
"""

from . import checks, plots, widgets
from .checks import InputRangeWarning
from .data import (
    ARRANGEMENT_CLASSES,
    FASHION_MNIST_CLASSES,
    arrangement_images,
    load_fashion_mnist,
)
from .embedding import (
    ConvStem,
    PatchEmbedding,
    RawPatches,
    conv_to_linear,
    cosine_similarity_matrix,
    linear_to_conv,
)
from .glue import glue
from .images import (
    PHOTOS,
    center_crop,
    chessboard_windows,
    face_box,
    load_photo,
    load_raw_photo,
    photo_crops,
    resize,
    to_tensor,
)
from .model import (
    MLP,
    POSITION_KINDS,
    EncoderBlock,
    MultiHeadSelfAttention,
    ViT,
    count_flops,
    count_parameters,
    flops_by_part,
    mean_attention_distance,
    parameter_table,
)
from .patches import (
    grid_size,
    num_patches,
    patches_in_box,
    patchify,
    sliding_patches,
    unpatchify,
)
from .position import (
    RESIZE_CONVENTIONS,
    LearnedPositionEmbedding,
    resize_position_embedding,
    sincos_1d_position_embedding,
    sincos_position_embedding,
)
from .pretrained import load_initial, load_pretrained, load_results, pretrained_info
from .training import (
    Progress,
    TrainConfig,
    accuracy,
    default_device,
    predictions,
    train_classifier,
)

__version__ = "0.1.0"

__all__ = [
    "checks",
    "plots",
    "widgets",
    "InputRangeWarning",
    "ConvStem",
    "EncoderBlock",
    "ARRANGEMENT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "LearnedPositionEmbedding",
    "MLP",
    "MultiHeadSelfAttention",
    "PHOTOS",
    "POSITION_KINDS",
    "PatchEmbedding",
    "RawPatches",
    "ViT",
    "arrangement_images",
    "center_crop",
    "chessboard_windows",
    "face_box",
    "glue",
    "patches_in_box",
    "photo_crops",
    "sliding_patches",
    "conv_to_linear",
    "count_flops",
    "flops_by_part",
    "count_parameters",
    "cosine_similarity_matrix",
    "grid_size",
    "load_fashion_mnist",
    "linear_to_conv",
    "load_photo",
    "load_initial",
    "load_pretrained",
    "load_results",
    "pretrained_info",
    "load_raw_photo",
    "mean_attention_distance",
    "num_patches",
    "parameter_table",
    "patchify",
    "resize",
    "RESIZE_CONVENTIONS",
    "resize_position_embedding",
    "sincos_1d_position_embedding",
    "sincos_position_embedding",
    "to_tensor",
    "TrainConfig",
    "accuracy",
    "predictions",
    "Progress",
    "default_device",
    "train_classifier",
    "unpatchify",
]
