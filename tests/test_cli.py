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
