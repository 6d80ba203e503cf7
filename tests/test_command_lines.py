"""Every flag of every command line, given a bad value: argparse's usage error (exit 2)
naming the flag and the value, before any data is read or any run starts; and no
default that writes into the installed package.

Each script's work is replaced by a function that fails the test if it is reached, so a
flag that is not checked up front fails here instead of after a long run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import vitbook
from vitbook.experiments import (
    bench,
    cnn_baseline,
    conv_stem,
    embedding_ablation,
    fashion_vit,
    position_ablation,
    position_encodings,
    toy_ablation,
)

PACKAGE = Path(vitbook.__file__).resolve().parent


def too_late(*args, **kwargs):
    raise AssertionError("the run started before the command line was checked")


#: The function each script's main() calls to do its work.
WORK = {
    fashion_vit: "train_fashion_vit",
    bench: "TorchEncoderViT",
    position_ablation: "run",
    position_encodings: "run",
    cnn_baseline: "run",
    conv_stem: "run",
    toy_ablation: "run",
    embedding_ablation: "run",
}

#: (script, flags, words the usage error must hold)
BAD_FLAGS = [
    (fashion_vit, ["--epochs", "0"], "argument --epochs: must be > 0, got 0"),
    (fashion_vit, ["--epochs", "-2"], "argument --epochs: must be > 0, got -2"),
    (fashion_vit, ["--epochs", "twelve"], "argument --epochs: must be a number"),
    (fashion_vit, ["--epochs", "nan"], "argument --epochs: must be a finite number"),
    (fashion_vit, ["--batch-size", "0"], "argument --batch-size: must be a positive"),
    (fashion_vit, ["--batch-size", "64.5"], "argument --batch-size: must be an int"),
    (fashion_vit, ["--lr", "0"], "argument --lr: must be > 0, got 0"),
    (fashion_vit, ["--lr=-1e-3"], "argument --lr: must be > 0, got -0.001"),
    (fashion_vit, ["--weight-decay", "-0.05"], "argument --weight-decay: must be >= 0"),
    (fashion_vit, ["--label-smoothing", "1"], "argument --label-smoothing: must be"),
    (fashion_vit, ["--label-smoothing", "-0.1"], "argument --label-smoothing"),
    (fashion_vit, ["--augment", "flips"], "argument --augment: invalid choice: 'flip"),
    (fashion_vit, ["--depth", "0"], "argument --depth: must be a positive int"),
    (fashion_vit, ["--position", "learnd"], "argument --position: invalid choice"),
    (fashion_vit, ["--pool", "max"], "argument --pool: invalid choice: 'max'"),
    (fashion_vit, ["--seed", "-1"], "argument --seed: must be an int >= 0, got -1"),
    (fashion_vit, ["--train-limit", "-5"], "argument --train-limit: must be an int"),
    (fashion_vit, ["--evals", "0"], "argument --evals: must be a positive int, got 0"),
    (fashion_vit, ["--evals", "ten"], "argument --evals: must be an int"),
    (fashion_vit, ["--lr"], "argument --lr: expected one argument"),
    (fashion_vit, ["--lerning-rate", "1e-3"], "unrecognized arguments: --lerning-rate"),
    (bench, ["--batch-size", "0"], "argument --batch-size: must be a positive int"),
    (bench, ["--steps", "0"], "argument --steps: must be a positive int, got 0"),
    (bench, ["--rounds", "-1"], "argument --rounds: must be a positive int"),
    (bench, ["--rounds", "2.5"], "argument --rounds: must be an int"),
    (position_ablation, ["--epochs", "0.25", "0"], "argument --epochs: must be > 0"),
    (position_ablation, ["--seeds", "0"], "argument --seeds: must be a positive int"),
    (position_ablation, ["--lr", "0"], "argument --lr: must be > 0"),
    (position_ablation, ["--train-limit", "-1"], "argument --train-limit"),
    (position_ablation, ["--kinds", "rope"], "argument --kinds: invalid choice"),
    (position_encodings, ["--epochs", "-1"], "argument --epochs: must be > 0"),
    (position_encodings, ["--seeds", "0"], "argument --seeds: must be a positive"),
    (position_encodings, ["--lr", "inf"], "argument --lr: must be a finite number"),
    (position_encodings, ["--train-limit", "-1"], "argument --train-limit"),
    (
        position_encodings,
        ["--transfer-images", "0"],
        "argument --transfer-images: must be a positive int, got 0",
    ),
    (
        position_encodings,
        ["--transfer-images", "20000"],
        "argument --transfer-images: must be an int <= 10000, got 20000",
    ),
    (position_encodings, ["--variants", "rope"], "argument --variants: invalid choice"),
    (position_encodings, ["--jobs", "0"], "argument --jobs: must be a positive int"),
    (cnn_baseline, ["--epochs", "0"], "argument --epochs: must be > 0"),
    (cnn_baseline, ["--seed", "-3"], "argument --seed: must be an int >= 0"),
    (cnn_baseline, ["--train-limit", "-1"], "argument --train-limit"),
    (conv_stem, ["--epochs", "0"], "argument --epochs: must be > 0"),
    (conv_stem, ["--seeds", "0"], "argument --seeds: must be a positive int"),
    (conv_stem, ["--lrs", "1e-3", "0"], "argument --lrs: must be > 0, got 0"),
    (conv_stem, ["--train-limit", "-1"], "argument --train-limit"),
    (conv_stem, ["--lrs", "1e-3", "0.001"], "--lrs repeats 0.001"),
    (position_ablation, ["--kinds", "none", "none"], "--kinds repeats none"),
    (position_encodings, ["--epochs", "0.5", "0.5"], "--epochs repeats 0.5"),
    (position_encodings, ["--variants", "cpe", "cpe"], "--variants repeats cpe"),
    (toy_ablation, ["--steps", "0"], "argument --steps: must be a positive int, got 0"),
    (toy_ablation, ["--steps", "200", "2.5"], "argument --steps: must be an int"),
    (toy_ablation, ["--steps", "5"], "--steps 5 is below the 10 warm-up steps"),
    (toy_ablation, ["--steps", "200", "200"], "--steps repeats 200"),
    (toy_ablation, ["--seeds", "0"], "argument --seeds: must be a positive int"),
    (toy_ablation, ["--kinds", "rope"], "argument --kinds: invalid choice: 'rope'"),
    (embedding_ablation, ["--steps", "5"], "argument --steps: must be an int >= 10"),
    (embedding_ablation, ["--steps", "1e2"], "argument --steps: must be an int"),
    (embedding_ablation, ["--seeds", "0"], "argument --seeds: must be a positive int"),
]


def usage_error(monkeypatch, capsys, script, argv: list[str]) -> str:
    """Run ``script.main(argv)`` with its work made unreachable; return the usage
    error's text (the test fails unless argparse exits with status 2)."""
    monkeypatch.setattr(script, WORK[script], too_late)
    with pytest.raises(SystemExit) as exit_:
        script.main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "script, flags, words",
    BAD_FLAGS,
    ids=[f"{s.__name__.split('.')[-1]} {' '.join(f)}" for s, f, _ in BAD_FLAGS],
)
def test_a_bad_flag_is_a_usage_error_before_the_run(
    monkeypatch, capsys, tmp_path, script, flags, words
):
    out = tmp_path / "out.json"
    err = usage_error(monkeypatch, capsys, script, [*flags, "--out", str(out)])
    assert words in err, err
    assert not out.exists()


SCRIPTS = list(WORK)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.__name__)
def test_an_existing_out_is_kept_without_overwrite(
    monkeypatch, capsys, tmp_path, script
):
    # fashion_vit writes OUT.pt and OUT.json; the others one file
    out = tmp_path / ("model" if script is fashion_vit else "result.json")
    existing = out.with_suffix(".pt") if script is fashion_vit else out
    existing.write_text("a week of training")
    err = usage_error(monkeypatch, capsys, script, ["--out", str(out)])
    assert f"--out {existing} exists already; pass --overwrite" in err
    assert existing.read_text() == "a week of training"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.__name__)
def test_an_out_that_cannot_be_written_is_refused(
    monkeypatch, capsys, tmp_path, script
):
    if script is not fashion_vit:
        # (train's OUT is a stem: OUT.pt and OUT.json go beside a folder OUT)
        err = usage_error(monkeypatch, capsys, script, ["--out", str(tmp_path)])
        assert f"--out {tmp_path} is a folder" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = usage_error(monkeypatch, capsys, script, ["--out", str(blocker / "x.json")])
    assert f"{blocker} is a file, not a folder" in err


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.__name__)
def test_no_default_writes_into_the_package(monkeypatch, script):
    """The defaults of --out lie in the current folder, never inside vitbook/ (where
    the shipped checkpoint and results are)."""
    seen = {}

    def capture(self, argv=None, namespace=None):
        seen["args"] = original(self, [], namespace)
        raise SystemExit(0)

    original = argparse.ArgumentParser.parse_args
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        script.main([])
    out = seen["args"].out
    if out is None:
        # bench writes nothing unless asked
        assert script is bench
        return
    assert not Path(out).resolve().is_relative_to(PACKAGE), out
    assert not Path(out).is_absolute(), out


def test_update_needs_the_record_it_updates(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "position_encodings.json"
    err = usage_error(
        monkeypatch,
        capsys,
        position_encodings,
        ["--update", "--variants", "relative", "--out", str(missing)],
    )
    assert f"--update needs the record to update at --out {missing}" in err


def test_a_good_command_line_reaches_the_run(monkeypatch, tmp_path):
    # the control: with good flags, main() gets past its checks to the work
    monkeypatch.setattr(fashion_vit, "train_fashion_vit", too_late)
    with pytest.raises(AssertionError, match="the run started"):
        fashion_vit.main(["--epochs", "0.5", "--out", str(tmp_path / "m")])


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--timeout", "0"], "argument --timeout: must be a positive int, got 0"),
        (["book/2_patches.ipynb"], "no notebook 'book/2_patches.ipynb'"),
        (["README.md"], "'README.md' is not a notebook (.ipynb)"),
    ],
)
def test_run_notebooks_checks_its_flags(capsys, flags, words):
    from tools import run_notebooks

    with pytest.raises(SystemExit) as exit_:
        run_notebooks.main(flags)
    assert exit_.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--jobs", "0"], "argument --jobs: must be a positive int, got 0"),
        (["--timeout", "-5"], "argument --timeout: must be a positive int, got -5"),
        (["--jobs", "two"], "argument --jobs: must be an int, got 'two'"),
    ],
)
def test_colab_check_checks_its_flags(capsys, flags, words):
    from tools import colab_check

    with pytest.raises(SystemExit) as exit_:
        colab_check.parse_args(flags)
    assert exit_.value.code == 2 and words in capsys.readouterr().err
