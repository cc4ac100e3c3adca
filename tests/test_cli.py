"""The minicnn command: train (on a small part of the embedded sample), evaluate, predict,
summary, datasets, resume, and the errors it prints."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "lenet", "--epochs", "1", "--limit", "400", "--backend", "numpy",
                 "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_checkpoint_and_metrics(trained, capsys):
    assert {"checkpoint.npz", "metrics.csv", "metrics.json"} <= set(os.listdir(trained))
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["dataset"] == "mnist-sample" and 0.15 < metrics["test_accuracy"] <= 1      # chance: 0.1
    header = (trained / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,loss,accuracy,val_loss,val_accuracy")
    model = mc.load(trained / "checkpoint.npz")
    assert model.checkpoint_epoch == 1 and model.checkpoint_metadata["dataset"] == "mnist-sample"


def test_evaluate_prints_accuracy_per_class_and_confusion(trained, capsys, tmp_path):
    assert main(["evaluate", str(trained / "checkpoint.npz"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mnist-sample test set: 1000 images; accuracy" in out
    assert "per-class accuracy:" in out and "confusion matrix" in out
    report = json.loads((tmp_path / "evaluation.json").read_text())
    confusion = np.array(report["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 1000
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / 1000)


def test_plot_extra_writes_the_pictures(trained, tmp_path):
    """matplotlib (the plot extra) is in the dev extra, so these run in CI."""
    assert main(["evaluate", str(trained / "checkpoint.npz"), "--out", str(tmp_path)]) == 0
    for picture in (trained / "curves.png", tmp_path / "confusion.png"):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture


def test_predict_on_the_test_set_and_on_a_npy_file(trained, capsys, tmp_path):
    assert main(["predict", str(trained / "checkpoint.npz"), "--count", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "class" in lines[0] and "(true: 0)" in lines[0]
    (_, _), (x, _) = mc.data.load_mnist_sample()
    np.save(tmp_path / "x.npy", x[:2, 0])
    assert main(["predict", str(trained / "checkpoint.npz"), "--input",
                 str(tmp_path / "x.npy")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_resume_continues_a_run(trained, capsys, tmp_path):
    code = main(["train", "lenet", "--epochs", "2", "--limit", "400", "--backend", "numpy",
                 "--resume", str(trained / "checkpoint.npz"), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "resuming" in out and "Epoch 2/2" in out and "Epoch 1/2" not in out
    assert mc.load(tmp_path / "checkpoint.npz").checkpoint_epoch == 2


def test_summary_and_datasets(capsys):
    assert main(["summary", "lenet", "--dataset", "cifar10"]) == 0
    assert "(None, 6, 28, 28)" in capsys.readouterr().out
    assert main(["summary", "lenet", "--batch-size", "32"]) == 0
    assert "Estimated memory for a training step at batch 32" in capsys.readouterr().out
    assert main(["datasets", "--data", "/nonexistent"]) == 0
    out = capsys.readouterr().out
    assert "mnist-sample   embedded" in out and "search order: /nonexistent" in out


def test_a_missing_data_set_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    assert main(["train", "lenet", "--dataset", "mnist", "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "minicnn train: mnist: missing train-images-idx3-ubyte.gz" in err
    assert "--download" in err


def test_python_dash_m_minicnn_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "minicnn", "--help"], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0 and "train" in result.stdout and "evaluate" in result.stdout


# ----------------------------------------------------------------------------- what is offered
HELPERS = ["basic_block", "bottleneck_block", "inception_block", "load_torch_state_dict",
           "to_torch_state_dict", "torch_parameter_map"]


def test_train_help_lists_only_architectures_with_input_sizes_and_recipes(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for helper in HELPERS:
        assert helper not in text
    assert "lenet5 (lenet)" in text and "vgg16 (vgg)" in text and "resnet18 (resnet)" in text
    assert "alexnet" in text and "designed for 3x224x224, takes >= 63x63" in text
    for name, recipe in mc.cli.RECIPES.items():         # the real defaults of each data set
        assert f"  {name} " in text
        assert f"{recipe['epochs']} epochs, batch {recipe['batch_size']}" in text
    assert main(["models"]) == 0
    assert capsys.readouterr().out.strip() == mc.cli.models_text()


def test_every_whole_network_of_the_zoo_is_offered_and_no_helper():
    """A zoo builder that makes a network from defaults is an architecture (or an alias
    of one); the helpers need arguments (a tensor, a model) and are not offered."""
    import inspect
    from minicnn.zoo.catalog import ALIASES, ARCHITECTURES
    whole = {name for name in mc.zoo.__all__
             if all(p.default is not p.empty or p.kind is p.VAR_KEYWORD
                    for p in inspect.signature(getattr(mc.zoo, name)).parameters.values())}
    assert whole <= set(ARCHITECTURES) | {"lenet5", "vgg", "resnet"}
    assert set(mc.cli.model_builders()) == set(ARCHITECTURES) | set(ALIASES)
    assert not set(HELPERS) & set(mc.cli.model_builders())
    assert ALIASES == {"lenet": "lenet5", "vgg": "vgg16", "resnet": "resnet18"}
    assert mc.zoo.vgg().count_params() == mc.zoo.vgg16().count_params()


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "vgg16", "vgg19", "googlenet", "lenet5"])
def test_the_smallest_input_each_architecture_takes(name):
    """The size the catalog states is the real limit: it builds at min_size, not below."""
    from minicnn.zoo.catalog import ARCHITECTURES
    arch = ARCHITECTURES[name]
    thin = {"width": 0.125} if name.startswith(("alexnet", "vgg")) else {}
    side = arch.min_size
    arch.build(num_classes=10, input_shape=(3, side, side), **thin)
    with pytest.raises(ValueError):
        arch.build(num_classes=10, input_shape=(3, side - 1, side - 1), **thin)


@pytest.mark.parametrize("model, size", [("alexnet", 63), ("vgg16", 32), ("vgg", 32),
                                         ("googlenet", 31)])
def test_a_model_too_large_for_the_data_says_which_input_it_needs(model, size, capsys,
                                                                  tmp_path):
    assert main(["train", model, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"needs images of at least {size}x{size} pixels" in err
    assert "the mnist-sample images are 1x28x28" in err and "lenet5" in err
    assert not os.listdir(tmp_path)                      # refused before any work
    assert main(["summary", model]) == 1
    assert f"at least {size}x{size}" in capsys.readouterr().err


def test_lenet_is_the_same_network_for_train_summary_and_explain(trained, capsys):
    """`train lenet`, `summary lenet` and `explain lenet` all build the 28x28 LeNet."""
    trained_params = mc.load(trained / "checkpoint.npz").count_params()
    assert trained_params == 44_426
    assert main(["summary", "lenet"]) == 0
    assert "Total params: 44,426" in capsys.readouterr().out
    assert main(["explain", "lenet", "--no-train-step", "--repeats", "1", "--warmup", "0",
                 "--backend", "numpy"]) == 0
    assert "(1, 28, 28)" in capsys.readouterr().out


def test_resume_takes_an_alias_of_the_same_architecture(trained, capsys, tmp_path):
    code = main(["train", "lenet5", "--epochs", "1", "--limit", "400", "--backend", "numpy",
                 "--resume", str(trained / "checkpoint.npz"), "--out", str(tmp_path)])
    assert code == 0
    assert main(["train", "resnet18", "--resume", str(trained / "checkpoint.npz"),
                 "--out", str(tmp_path)]) == 1
    assert "model resnet18 (the run used lenet)" in capsys.readouterr().err


def test_plot_im2col_says_where_it_wrote(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "im2col"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'im2col.png'}"
