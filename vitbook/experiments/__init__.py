"""The scripts that made the book's shipped checkpoints and records.

Each runs as ``python -m vitbook.experiments.NAME`` (``--help`` lists its flags) and is
named after what it writes, into ``vitbook/weights/`` or ``vitbook/results/``:

* ``fashion_vit``: the reference tiny ViT, ``weights/fashion_vit.pt`` and ``.json``
  (with ``--augment shift8-flip --out .../fashion_vit_shift``, the shifted one);
* ``cnn_baseline``: a CNN of the same size, trained with the same recipe;
* ``conv_stem``: patchify against a convolutional stem, over learning rates;
* ``position_ablation``: the paper's Table 8 at small scale;
* ``position_encodings``: Table 8 extended to the newer encodings;
* ``toy_ablation``: the position ablation on the synthetic arrangement task;
* ``embedding_ablation``: chapter-sized models with and without the patch embedding;
* ``bench``: the speed of ``vitbook.ViT`` against torch's own encoder.

The library they use (``vitbook.recipes``, ``vitbook.training``, ``vitbook.model`` and
the rest) never imports them.
"""
