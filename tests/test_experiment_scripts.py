"""The experiment scripts (``vitbook.experiments``) on a tiny budget: checkpoints,
their records, results files."""

from __future__ import annotations

import json

import pytest
import torch

import vitbook
from vitbook import recipes
from vitbook.experiments import (
    embedding_ablation,
    fashion_vit,
    position_ablation,
    position_encodings,
    toy_ablation,
)

# the scripts evaluate on the test split; a slice keeps these tests fast (they check
# what the scripts write, not how well their tiny runs do)
TEST_IMAGES = 200
_LOADED = {}


def _load_once(split: str, download: bool = True):
    """Fashion-MNIST, read and verified once per test process (each script run would
    read it again)."""
    if split not in _LOADED:
        _LOADED[split] = vitbook.load_fashion_mnist(split, download)
    return _LOADED[split]


@pytest.fixture
def small_test_split(monkeypatch):
    """The real training data, but only the first TEST_IMAGES test images."""

    def loader(split: str = "train", download: bool = True):
        images, labels = _load_once(split, download)
        return (
            (images[:TEST_IMAGES], labels[:TEST_IMAGES])
            if split == "test"
            else (images, labels)
        )

    monkeypatch.setattr(recipes, "load_fashion_mnist", loader)


@pytest.fixture
def tiny_checkpoint(tmp_path, small_test_split):
    """``python -m vitbook.experiments.fashion_vit`` for one step on 512 images:
    (directory, record)."""
    record = fashion_vit.main(
        ["--epochs", "0.01", "--train-limit", "512", "--evals", "1", "--depth", "1"]
        + ["--out", str(tmp_path / "m")]
    )
    return tmp_path, record


def test_train_writes_a_checkpoint_that_load_pretrained_reads(tiny_checkpoint):
    directory, record = tiny_checkpoint
    assert (directory / "m.pt").is_file() and (directory / "m.json").is_file()
    info = vitbook.pretrained_info("m", directory=directory)
    assert info == record
    for key in ("model", "train", "epochs", "seed", "train_seconds", "device", "torch"):
        assert key in info, key
    assert info["steps"] == 1 and info["train_images"] == 512
    assert info["model"]["depth"] == 1 and info["model"]["patch_size"] == 4
    assert 0 < info["model"]["std"] < 1 and 0 < info["model"]["mean"] < 1
    assert len(info["curve"]) == 1
    point = info["curve"][0]
    assert point["step"] == 1 and point["test_accuracy"] == info["test_accuracy"]
    assert 0.0 <= info["test_accuracy"] <= 1.0

    model = vitbook.load_pretrained("m", directory=directory)
    assert isinstance(model, vitbook.ViT) and not model.training
    images, labels = recipes.load_fashion_mnist("test")
    x = images[:, None].float() / 255.0  # (M, 1, 28, 28)
    # the loaded weights reproduce the recorded accuracy
    # (up to a near-tie on another device)
    assert (
        abs(vitbook.accuracy(model, x, labels) - info["test_accuracy"])
        <= 2 / TEST_IMAGES
    )
    # and the recorded predictions, one per test image, are the model's
    recorded = torch.tensor([int(k) for k in info["test_predictions"]])
    assert len(recorded) == TEST_IMAGES
    assert (recorded == labels).sum().item() / TEST_IMAGES == info["test_accuracy"]
    assert (recorded != vitbook.predictions(model, x)).sum() <= 2


def test_load_initial_rebuilds_the_model_exactly_as_training_started(
    tmp_path, small_test_split, monkeypatch
):
    """The weights train_classifier received, before any step, equal load_initial's."""
    seen = {}
    real = recipes.train_classifier

    def recording(model, *args, **kwargs):
        seen["start"] = {k: v.clone() for k, v in model.state_dict().items()}
        return real(model, *args, **kwargs)

    monkeypatch.setattr(recipes, "train_classifier", recording)
    fashion_vit.main(
        ["--epochs", "0.01", "--train-limit", "512", "--evals", "1", "--depth", "1"]
        + ["--seed", "3", "--out", str(tmp_path / "m")]
    )
    start = vitbook.load_initial("m", directory=tmp_path).state_dict()
    assert start.keys() == seen["start"].keys()
    assert all(torch.equal(start[k], seen["start"][k]) for k in start)
    # and it is not simply the trained model: one step moved the weights
    trained = vitbook.load_pretrained("m", directory=tmp_path).state_dict()
    assert not torch.equal(trained["head.weight"], start["head.weight"])


def test_load_pretrained_refuses_a_tampered_checkpoint(tiny_checkpoint):
    directory, _ = tiny_checkpoint
    weights = directory / "m.pt"
    state = torch.load(weights, weights_only=True)
    # a small change: same keys, same shapes
    state["head.bias"] = state["head.bias"] + 1.0
    torch.save(state, weights)
    with pytest.raises(ValueError, match="m.pt has SHA-256 .* but its record says"):
        vitbook.load_pretrained("m", directory=directory)


def test_load_pretrained_explains_a_missing_record(tmp_path):
    with pytest.raises(FileNotFoundError, match="vitbook.experiments.fashion_vit"):
        vitbook.load_pretrained("nothing", directory=tmp_path)


def test_position_ablation_writes_its_results_file(tmp_path, small_test_split):
    out = tmp_path / "x.json"
    record = position_ablation.main(
        ["--epochs", "0.005", "0.01", "--seeds", "1", "--train-limit", "512"]
        + ["--kinds", "none", "learned-sincos2d", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == record
    assert record["budget"] == {
        "epochs": [0.005, 0.01],
        "train_images": 512,
        "seeds": [0],
    }
    assert record["model"] == recipes.REFERENCE_MODEL
    assert record["paper_table_8"] == position_ablation.PAPER_TABLE_8
    # the short-run recipe, not the reference model's: what the committed results used
    shipped = vitbook.load_results("position_ablation")
    assert record["recipe"] == shipped["recipe"]
    assert "batch 128" in record["recipe"] and "augmentation: none" in record["recipe"]
    assert [(r["epochs"], r["position"], r["seed"]) for r in record["runs"]] == [
        (0.005, "none", 0),
        (0.005, "learned-sincos2d", 0),
        (0.01, "none", 0),
        (0.01, "learned-sincos2d", 0),
    ]
    assert list(record["summary"]) == ["0.005", "0.01"]
    for epochs, rows in record["summary"].items():
        assert set(rows) == {"none", "learned-sincos2d"}
        for kind, row in rows.items():
            accuracy = next(
                r["test_accuracy"]
                for r in record["runs"]
                if r["position"] == kind and f"{r['epochs']:g}" == epochs
            )
            assert row == {
                "mean": round(accuracy, 4),
                "std": 0.0,
                "min": accuracy,
                "max": accuracy,
            }


def test_position_encodings_writes_its_results_file(tmp_path, small_test_split):
    out = tmp_path / "x.json"
    variants = ["learned", "cpe", "learned+registers"]
    record = position_encodings.main(
        ["--epochs", "0.005", "0.01", "--seeds", "1", "--train-limit", "512"]
        + ["--transfer-images", "16", "--variants", *variants, "--out", str(out)]
    )
    assert json.loads(out.read_text()) == record
    assert record["budget"] == {
        "epochs": [0.005, 0.01],
        "train_images": 512,
        "seeds": [0],
    }
    assert record["model"] == {**recipes.REFERENCE_MODEL, **position_encodings.MODEL}
    assert record["model"]["dim"] == 64
    assert record["paper_table_8"] == position_ablation.PAPER_TABLE_8
    # the same recipe as the shorter ablation
    assert record["recipe"] == vitbook.load_results("position_ablation")["recipe"]
    assert [(r["epochs"], r["variant"], r["seed"]) for r in record["runs"]] == [
        (e, v, 0) for e in (0.005, 0.01) for v in variants
    ]
    for r in record["runs"]:
        for column in ("test_accuracy", "same_images_28", "canvas44", "upscaled56"):
            assert 0.0 <= r[column] <= 1.0
        reads = r["class_token_reads"]
        total = reads["clothing"] + reads["background"] + reads["registers"]
        assert total + reads["itself"] == pytest.approx(1.0, abs=1e-3)
        # only the learned tables get the patch-size columns; only registers get reads
        assert ("patch_size" in r) == (r["variant"] != "cpe")
        assert (reads["registers"] > 0) == (r["variant"] == "learned+registers")
    for epochs, rows in record["summary"].items():
        mine = [r for r in record["runs"] if f"{r['epochs']:g}" == epochs]
        values = [r["canvas44"] for r in mine if r["variant"] == "cpe"]
        assert rows["cpe"]["canvas44"]["min"] == min(values)
        assert rows["cpe"]["canvas44"]["max"] == max(values)
    assert record["transfer_rules"]["cpe"] == vitbook.resolution.TRANSFER_RULES["cpe"]

    # --update reruns one variant and keeps the others' runs; the runs are seeded, so
    # the rerun gives the same numbers
    again = position_encodings.main(
        ["--epochs", "0.005", "0.01", "--seeds", "1", "--train-limit", "512"]
        + [
            "--transfer-images",
            "16",
            "--variants",
            "cpe",
            "--update",
            "--out",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == again

    def results(r):
        return {k: v for k, v in r.items() if k != "train_seconds"}

    assert [results(r) for r in again["runs"]] == [results(r) for r in record["runs"]]
    assert again["summary"] == record["summary"]
    assert [u["variants"] for u in again["updates"]] == [["cpe"]]
    assert again["wall_seconds"] > record["wall_seconds"]
    with pytest.raises(ValueError, match="'budget' differs"):
        position_encodings.update(record, {**again, "budget": {"epochs": [1]}})


def test_position_encodings_refuses_an_unknown_variant():
    with pytest.raises(ValueError, match="unknown variants \\['rope'\\]"):
        position_encodings.run(variants=("rope",))


def test_the_shipped_checkpoint_and_results_have_the_documented_fields():
    try:
        info = vitbook.pretrained_info()
    except FileNotFoundError:
        pytest.skip("no shipped checkpoint: run vitbook.experiments.fashion_vit")
    model = vitbook.load_pretrained()  # checks the SHA-256
    assert model.pos_embed.shape == (1, 1 + 7 * 7, info["model"]["dim"])
    for key in ("epochs", "seed", "train_seconds", "device", "torch", "test_accuracy"):
        assert key in info, key
    assert info["curve"][-1]["test_accuracy"] == info["test_accuracy"]
    # one predicted class per test image, which give the recorded accuracy
    predicted = torch.tensor([int(k) for k in info["test_predictions"]])
    _, labels = vitbook.load_fashion_mnist("test")
    assert len(predicted) == len(labels) == 10_000
    assert (predicted == labels).sum().item() / len(labels) == info["test_accuracy"]
    try:
        results = vitbook.load_results("position_ablation")
    except FileNotFoundError:
        return
    assert list(results["summary"]) == [f"{e:g}" for e in results["budget"]["epochs"]]
    for rows in results["summary"].values():
        assert set(rows) <= set(position_ablation.KINDS)
    assert set(results["budget"]) == {"epochs", "train_images", "seeds"}


@pytest.fixture
def conv_stem_test_split(small_test_split):
    """The same slice of the test split, for the conv-stem script."""


def test_conv_stem_script_writes_its_results_file(tmp_path, conv_stem_test_split):
    from vitbook.experiments import conv_stem

    out = tmp_path / "conv_stem.json"
    record = conv_stem.main(
        ["--train-limit", "512", "--epochs", "0.01", "--seeds", "1"]
        + ["--lrs", "4e-3", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == record
    assert record["budget"] == {
        "epochs": 0.01,
        "train_images": 512,
        "lrs": [4e-3],
        "seeds": [0],
    }
    assert record["model"] == recipes.REFERENCE_MODEL
    assert record["paper_claim"] == conv_stem.PAPER_CLAIM
    shipped = vitbook.load_results("conv_stem")
    assert record["recipe"] == shipped["recipe"]
    assert "batch 128" in record["recipe"] and "augmentation: none" in record["recipe"]
    cost = record["cost"]
    assert cost["patchify"]["depth"] == 4 and cost["conv"]["depth"] == 3
    assert cost["conv"]["stem_channels"][-1] == recipes.REFERENCE_MODEL["dim"]
    # the matched budget: parameters within 1 %, FLOPs within 5 %
    assert abs(cost["conv"]["parameters"] / cost["patchify"]["parameters"] - 1) < 0.01
    assert abs(cost["conv"]["flops"] / cost["patchify"]["flops"] - 1) < 0.05
    assert [(r["stem"], r["lr"], r["seed"]) for r in record["runs"]] == [
        ("patchify", 4e-3, 0),
        ("conv", 4e-3, 0),
    ]
    for run, row in zip(record["runs"], record["summary"]):
        assert 0.0 <= run["test_accuracy"] <= 1.0 and run["final_train_loss"] > 0
        assert (row["stem"], row["lr"], row["seeds"]) == (run["stem"], run["lr"], 1)
        assert row["mean"] == round(run["test_accuracy"], 4) and row["std"] == 0.0
        # every head of every layer measured, in pixels and relative to uniform
        distance = run["attention_distance"]
        depth = cost[run["stem"]]["depth"]
        assert len(distance["pixels"]) == len(distance["relative"]) == depth
        assert all(
            len(layer) == recipes.REFERENCE_MODEL["heads"]
            for layer in distance["relative"]
        )
    assert record["wall_seconds"] > 0


def test_train_fashion_vit_builds_a_conv_stem_on_request(conv_stem_test_split):
    model, config, info = recipes.train_fashion_vit(
        epochs=0.01,
        train_limit=256,
        evals=1,
        log=None,
        depth=1,
        stem="conv",
        stem_channels=[8, 128],
    )
    assert isinstance(model.patch_embed, vitbook.ConvStem)
    assert model.patch_embed.channels == (8, 128) and len(model.blocks) == 1
    assert info["stem"] == {"kind": "conv", "channels": [8, 128]}
    assert "stem" not in config and "embedding" not in config
    with pytest.raises(
        ValueError, match="stem must be one of 'patchify', 'conv'; got 'hybrid'"
    ):
        recipes.train_fashion_vit(epochs=0.01, train_limit=256, log=None, stem="hybrid")


def test_the_shipped_conv_stem_results_are_complete():
    try:
        results = vitbook.load_results("conv_stem")
    except FileNotFoundError:
        pytest.skip("no shipped conv_stem.json: run vitbook.experiments.conv_stem")
    budget = results["budget"]
    assert len(budget["seeds"]) >= 3 and len(budget["lrs"]) >= 2
    assert results["model"] == recipes.REFERENCE_MODEL
    pairs = {(row["stem"], row["lr"]) for row in results["summary"]}
    assert pairs == {(s, lr) for s in ("patchify", "conv") for lr in budget["lrs"]}
    assert len(results["runs"]) == 2 * len(budget["lrs"]) * len(budget["seeds"])
    cost = results["cost"]
    assert abs(cost["conv"]["parameters"] / cost["patchify"]["parameters"] - 1) < 0.01


def test_the_script_defaults_reproduce_the_shipped_checkpoints_recipe():
    from vitbook.recipes import AUGMENTATIONS, REFERENCE_MODEL, REFERENCE_RECIPE

    record = vitbook.pretrained_info()
    train = record["train"]
    assert record["epochs"] == REFERENCE_RECIPE["epochs"]
    assert record["augmentation"] == AUGMENTATIONS[REFERENCE_RECIPE["augment"]][1]
    for key in ("batch_size", "lr", "weight_decay", "label_smoothing"):
        assert train[key] == REFERENCE_RECIPE[key], key
    assert {k: record["model"][k] for k in REFERENCE_MODEL} == REFERENCE_MODEL


def test_attention_distances_is_one_for_uniform_attention_and_below_for_local():
    from vitbook.experiments import conv_stem

    model = vitbook.ViT(**recipes.REFERENCE_MODEL).eval()
    images = torch.rand(4, 1, 28, 28)
    n = model.num_patches

    def with_attention(weights):  # every block attends with these (T, T) weights
        for block in model.blocks:
            block.attn.attention_weights = lambda x, w=weights: w.expand(
                x.shape[0], model.blocks[0].attn.heads, -1, -1
            )

    tokens = n + 1
    with_attention(torch.full((tokens, tokens), 1.0 / tokens))
    uniform = conv_stem.attention_distances(model, images)
    assert all(abs(v - 1) < 1e-4 for layer in uniform["relative"] for v in layer)
    local = torch.eye(tokens) * 0.9 + 0.1 / tokens  # mostly on itself
    with_attention(local / local.sum(-1, keepdim=True))
    near = conv_stem.attention_distances(model, images)
    assert all(v < 0.2 for layer in near["relative"] for v in layer)


def test_the_cnn_matches_the_tiny_vit_in_parameters_and_flops():
    from vitbook.cnn import REFERENCE_CNN, SmallCNN

    cnn, vit = SmallCNN(**REFERENCE_CNN), vitbook.ViT(**recipes.REFERENCE_MODEL)
    image = torch.zeros(1, 1, 28, 28)
    params = vitbook.count_parameters(cnn) / vitbook.count_parameters(vit)
    flops = vitbook.count_flops(cnn, image) / vitbook.count_flops(vit, image)
    assert abs(params - 1) < 0.02 and abs(flops - 1) < 0.02
    assert cnn(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="widths and strides"):
        SmallCNN(widths=[8, 16], strides=[1])
    with pytest.raises(ValueError, match="expected images of shape"):
        cnn(torch.rand(3, 28, 28, 1))


def test_cnn_baseline_script_writes_its_results_file(tmp_path, small_test_split):
    from vitbook.experiments import cnn_baseline

    out = tmp_path / "cnn_baseline.json"
    record = cnn_baseline.main(
        ["--epochs", "0.01", "--train-limit", "512", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == record
    info = record["info"]
    assert info["epochs"] == 0.01 and info["train_images"] == 512
    assert 0.0 <= info["test_accuracy"] <= 1.0
    # the recipe is the reference ViT's, the shipped record's too
    shipped = vitbook.load_results("cnn_baseline")
    assert record["recipe"] == shipped["recipe"]
    assert record["recipe"] == recipes.describe_recipe(
        vitbook.pretrained_info("fashion_vit")
    )
    assert record["model"]["widths"] == shipped["model"]["widths"]
    with pytest.raises(ValueError, match="takes no ViT options"):
        recipes.train_fashion_vit(
            epochs=0.01, train_limit=64, log=None, architecture="cnn", depth=2
        )


def test_toy_ablation_writes_its_record(tmp_path):
    out = tmp_path / "toy.json"
    record = toy_ablation.main(
        ["--steps", "10", "20", "--seeds", "1", "--kinds", "none", "learned"]
        + ["--out", str(out)]
    )
    assert json.loads(out.read_text()) == record
    # without a table only at the first budget: it is at chance at any
    assert [(r["steps"], r["position"], r["seed"]) for r in record["runs"]] == [
        (10, "none", 0),
        (10, "learned", 0),
        (20, "learned", 0),
    ]
    assert record["summary"]["10"]["none"] == {"mean": 0.25, "std": 0.0}
    # the learned table of the first budget, (N, D) = (16, 32)
    tables = record["learned_tables"]
    assert tables["steps"] == 10 and list(tables["by_seed"]) == ["0"]
    assert torch.tensor(tables["by_seed"]["0"]).shape == (16, 32)
    # the shipped record was made with the same task, model and schedule
    shipped = vitbook.load_results("toy_ablation")
    for key in ("model", "schedule", "data"):
        assert record[key] == shipped[key], key
    assert shipped["setup"]["cpu_capability"] == "AVX2" and shipped["threads"] == 1
    assert shipped["train_config"] == record["train_config"]


def test_embedding_ablation_writes_its_record(tmp_path):
    out = tmp_path / "embedding.json"
    record = embedding_ablation.main(
        ["--steps", "10", "--seeds", "1", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == record
    kinds = list(embedding_ablation.KINDS)
    assert [(r["model"], r["seed"]) for r in record["runs"]] == [(k, 0) for k in kinds]
    assert record["schedule"]["steps"] == 10
    # B and C differ only in the 48x48 embedding and its bias; B′ and C′ lose a
    # LayerNorm's 2 x 48 parameters
    params = record["parameters"]
    assert params["C"] - params["B"] == 48 * 48 + 48
    assert params["B"] - params["B′"] == params["C"] - params["C′"] == 2 * 48
    # the shipped record was made with the same crops and schedule, 150 steps
    shipped = vitbook.load_results("embedding_ablation")
    assert shipped["data"] == record["data"] and shipped["parameters"] == params
    assert shipped["schedule"] == {**record["schedule"], "steps": 150}
    assert shipped["setup"]["cpu_capability"] == "AVX2" and len(shipped["runs"]) == 15
    assert shipped["train_config"] == record["train_config"]
