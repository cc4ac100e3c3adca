"""minicnn.plot and `minicnn plot ...`: every picture is a readable PNG, shows what it
claims (panels per filter, the im2col layout conv2d really uses, only wrong predictions),
and bad input gets an error that says what to change."""
import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.plot as plot
from minicnn.cli import main
from minicnn.data import transforms as T
from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D

import matplotlib  # noqa: E402  (in the dev extra: a missing matplotlib fails here, loudly)
from matplotlib.image import imread  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(source):
    """The pixels of a PNG (file name or BytesIO) after checking it is one and looks sane."""
    data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
    assert data[:8] == PNG_SIGNATURE, source
    pixels = imread(io.BytesIO(data), format="png")
    height, width = pixels.shape[:2]
    assert 150 <= width <= 3000 and 100 <= height <= 4000, (width, height)
    assert pixels[..., :3].std() > 0.05, "the picture is blank"
    return pixels


def panels(fig, prefix):
    return [ax for ax in fig.axes if ax.get_label().startswith(prefix)]


@pytest.fixture(scope="module")
def mnist():
    """The embedded MNIST sample, normalised as `minicnn train` does: a balanced subset."""
    (x_train, y_train), (x_test, y_test) = mc.data.load_mnist_sample()
    normalize = T.Compose([T.ToFloat(), T.Normalize([0.1307], [0.3081])])
    keep = np.random.default_rng(0).permutation(len(x_train))[:320]
    return normalize(x_train[keep]), y_train[keep], normalize(x_test[:200]), y_test[:200]


@pytest.fixture(scope="module")
def lenet(mnist):
    """LeNet after a few training steps (it must not be perfect: misclassified needs errors)."""
    x, y, x_test, y_test = mnist
    mc.manual_seed(0)
    model = mc.zoo.lenet5(input_shape=(1, 28, 28))
    model.compile(optimizer=mc.optim.Adam(lr=2e-3), loss="cross_entropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=64, validation_data=(x_test, y_test))
    return model, history


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder of `minicnn train`: checkpoint.npz, metrics.csv, metrics.json."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "lenet", "--epochs", "2", "--limit", "200", "--backend",
                 mc.get_backend(), "--out", str(out)]) == 0
    return out


# ----------------------------------------------------------------------------- writing
def test_every_picture_writes_a_png_to_a_name_a_path_or_a_file_object(lenet, mnist, tmp_path):
    model, history = lenet
    _, _, x, y = mnist
    predicted = model.predict(x).argmax(axis=1)
    pictures = {"curves": lambda p: plot.training_curves(history, p),
                "filters": lambda p: plot.filters(model, p),
                "features": lambda p: plot.feature_maps(model, x[0], p),
                "confusion": lambda p: plot.confusion_matrix(y, predicted, p),
                "misclassified": lambda p: plot.misclassified(model, x, y, p),
                "im2col": lambda p: plot.im2col_unrolling(p)}
    for name, draw in pictures.items():
        assert draw(str(tmp_path / f"{name}.png")) == str(tmp_path / f"{name}.png")
        read_png(tmp_path / f"{name}.png")
    for name in ("curves", "im2col"):              # every picture saves through one helper
        assert pictures[name](tmp_path / f"{name}-path.png") == tmp_path / f"{name}-path.png"
        read_png(tmp_path / f"{name}-path.png")
        buffer = io.BytesIO()
        assert pictures[name](buffer) is buffer
        read_png(buffer)
    assert sorted(os.listdir(tmp_path)) == sorted(               # and leaves no temp files
        [f"{n}.png" for n in pictures] + ["curves-path.png", "im2col-path.png"])


def test_the_suffix_picks_the_format_and_an_unknown_one_is_an_error(tmp_path):
    plot.im2col_unrolling(tmp_path / "im2col.svg")
    assert b"<svg" in (tmp_path / "im2col.svg").read_bytes()[:500]
    plot.im2col_unrolling(tmp_path / "im2col")                       # no suffix: PNG
    assert (tmp_path / "im2col").read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match=r"cannot write a \.txt picture; end the name with \.png"):
        plot.im2col_unrolling(tmp_path / "im2col.txt")
    with pytest.raises(TypeError, match="path must be a file name"):
        plot.im2col_unrolling(42)
    assert not (tmp_path / "im2col.txt").exists()


def test_html_img_embeds_the_png_for_the_docs():
    html = plot.html_img(plot.im2col_unrolling, alt='im2col "unrolled"')
    match = re.fullmatch(r'<img alt="im2col &quot;unrolled&quot;" '
                         r'src="data:image/png;base64,([A-Za-z0-9+/=]+)" style="max-width:100%">',
                         html)
    assert match
    read_png(io.BytesIO(base64.b64decode(match.group(1))))


def test_without_matplotlib_import_works_and_drawing_says_what_to_install(monkeypatch, tmp_path,
                                                                          capsys):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import minicnn, minicnn.plot\n"
            "try:\n    minicnn.plot.im2col_unrolling('x.png')\n"
            "except ImportError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pip install 'minicnn[plot]'" in result.stdout and not (tmp_path / "x.png").exists()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", "im2col", "--out", str(tmp_path / "x.png")]) == 1
    assert "pip install 'minicnn[plot]'" in capsys.readouterr().err


def test_train_and_evaluate_work_without_matplotlib(run, monkeypatch, tmp_path, capsys):
    from minicnn.cli import _plot_curves
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert _plot_curves(str(tmp_path), plot.read_history(run)) is False
    assert main(["evaluate", str(run / "checkpoint.npz"), "--out", str(tmp_path),
                 "--backend", mc.get_backend()]) == 0
    assert "(pip install 'minicnn[plot]' for confusion.png)" in capsys.readouterr().out
    assert os.listdir(tmp_path) == ["evaluation.json"]


# ----------------------------------------------------------------------------- curves
def test_training_curves_plot_every_epoch_of_the_history(lenet):
    _, history = lenet
    fig = plot.draw_training_curves(history)
    loss, accuracy = fig.axes
    for ax, key in ((loss, "loss"), (accuracy, "accuracy")):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"training", "validation"}
        assert list(lines["training"].get_xdata()) == [1, 2]
        np.testing.assert_allclose(lines["training"].get_ydata(), history.history[key])
        np.testing.assert_allclose(lines["validation"].get_ydata(), history.history["val_" + key])
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert all(float(t).is_integer() for t in ticks), ticks          # whole epochs only
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
    matplotlib.pyplot.close(fig)
    fig = plot.draw_training_curves({"loss": [2.0, 1.0, 0.5]})           # a .history dict
    assert len(fig.axes) == 1 and list(fig.axes[0].get_lines()[0].get_xdata()) == [1, 2, 3]
    matplotlib.pyplot.close(fig)


def test_read_history_reads_what_minicnn_train_writes(run):
    import json
    saved = json.loads((run / "metrics.json").read_text())["history"]
    for source in (run, run / "metrics.csv", run / "metrics.json"):
        history = plot.read_history(source)
        assert history.epoch == [0, 1]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(history.history[key], saved[key], rtol=1e-6)


def test_training_curves_errors(tmp_path):
    with pytest.raises(ValueError, match="neither 'loss' nor 'accuracy'.*it has \\['lr'\\]"):
        plot.training_curves({"lr": [0.1]}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="empty: train for at least one epoch"):
        plot.training_curves(mc.History(), tmp_path / "c.png")
    with pytest.raises(ValueError, match="'val_loss' has 1 values but there are 2 epochs"):
        plot.training_curves({"loss": [1, 2], "val_loss": [1]}, tmp_path / "c.png")
    with pytest.raises(TypeError, match="expected the History that fit\\(\\) returns"):
        plot.training_curves([1, 2], tmp_path / "c.png")
    (tmp_path / "bad.csv").write_text("loss,accuracy\n1,2\n")
    with pytest.raises(ValueError, match="header 'epoch,loss,...'"):
        plot.read_history(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="no metrics.csv or metrics.json"):
        plot.read_history(tmp_path)
    assert not (tmp_path / "c.png").exists()


# ----------------------------------------------------------------------------- filters
def test_filters_one_panel_per_filter_on_a_diverging_scale_centred_at_zero(lenet):
    model, _ = lenet
    weights = model[0].kernel.data                                        # (6, 1, 5, 5)
    fig = plot.draw_filters(model)
    shown = panels(fig, "filter ")
    assert len(shown) == weights.shape[0] == 6
    top = np.abs(weights).max()
    for k, ax in enumerate(shown):
        image = ax.get_images()[0]
        np.testing.assert_array_equal(image.get_array(), weights[k, 0])
        assert image.get_clim() == pytest.approx((-top, top))              # 0 = the middle
        assert image.get_cmap().name == "RdBu_r" and image.origin == "upper"
    assert any(ax.get_ylabel() == "weight" for ax in fig.axes)            # the colour bar
    assert "6 filters of 1x5x5" in fig.get_suptitle()
    matplotlib.pyplot.close(fig)


def test_filters_of_a_named_layer_one_row_per_filter(lenet):
    model, _ = lenet
    fig = plot.draw_filters(model, layer=model[2].name, max_filters=5)
    rows = panels(fig, "filter ")
    assert len(rows) == 5                                                 # the first 5 of 16
    assert len(fig.axes) == 5 * 6 + 1                                     # 6 channels + bar
    assert "16 filters of 6x5x5 (the first 5)" in fig.get_suptitle()
    matplotlib.pyplot.close(fig)


def test_filters_of_colour_images_as_rgb_with_grey_for_zero():
    mc.manual_seed(1)
    model = mc.Sequential([Conv2D(5, 3, input_shape=(3, 8, 8)), Flatten(), Dense(2)])
    weights = model[0].kernel.data
    fig = plot.draw_filters(model)
    shown = panels(fig, "filter ")
    assert len(shown) == 5
    rgb = shown[2].get_images()[0].get_array()
    expected = 0.5 + weights[2].transpose(1, 2, 0) / (2 * np.abs(weights).max())
    np.testing.assert_allclose(rgb, expected, rtol=1e-6)
    assert "mid-grey = weight 0" in fig.get_suptitle()
    matplotlib.pyplot.close(fig)
    fig = plot.draw_filters(model, mode="channels")
    assert len(panels(fig, "filter ")) == 5 and len(fig.axes) == 5 * 3 + 1
    matplotlib.pyplot.close(fig)


def test_filters_errors(lenet, tmp_path):
    model, _ = lenet
    dense = mc.Sequential([Flatten(input_shape=(1, 4, 4)), Dense(3)])
    with pytest.raises(ValueError, match="has no Conv2D layer, so there are no convolution "
                                         "filters to draw"):
        plot.filters(dense, tmp_path / "f.png")
    with pytest.raises(ValueError, match=r"no Conv2D layer named 'dense'; its Conv2D layers are "
                                         r"\['conv2d.*'\]"):
        plot.filters(model, tmp_path / "f.png", layer="dense")
    with pytest.raises(ValueError, match="mode='rgb' needs 3 input channels.*has 1"):
        plot.filters(model, tmp_path / "f.png", mode="rgb")
    with pytest.raises(ValueError, match="max_filters must be a positive int"):
        plot.filters(model, tmp_path / "f.png", max_filters=0)
    assert not (tmp_path / "f.png").exists()


# ----------------------------------------------------------------------------- feature maps
def test_feature_maps_show_every_conv_layers_output_for_the_input(lenet, mnist):
    model, _ = lenet
    x = mnist[2][3]
    was_training = model.training
    fig = plot.draw_feature_maps(model, x)
    assert model.training == was_training and "forward" not in vars(model[0])
    # the same numbers computed here from the weights, op by op
    w1, b1, w2, b2 = (p.data for p in model.parameters()[:4])
    out1 = F.relu(F.conv2d(x[None], w1, b1)).data[0]
    out2 = F.relu(F.conv2d(F.max_pool2d(out1[None], 2), w2, b2)).data[0]
    for conv, expected in ((model[0], out1), (model[2], out2)):
        maps = panels(fig, f"{conv.name} map ")
        assert len(maps) == len(expected)                               # 6, then 16
        for k, ax in enumerate(maps):
            np.testing.assert_allclose(ax.get_images()[0].get_array(), expected[k],
                                       rtol=1e-4, atol=1e-5)
        c, h, w = expected.shape
        assert f"{conv.name}: output {c}x{h}x{w} (after relu)" == maps[0].get_title("left")
    (input_panel,) = panels(fig, "input")
    assert input_panel.get_title("left").startswith("input: 1x28x28; the model predicts class")
    image = input_panel.get_images()[0]
    assert image.origin == "upper" and image.get_cmap().name == "gray"
    np.testing.assert_allclose(image.get_array(), (x[0] - x.min()) / (x.max() - x.min()),
                               rtol=1e-5)
    matplotlib.pyplot.close(fig)


def test_feature_maps_cap_the_maps_and_check_the_input(lenet, mnist):
    model, _ = lenet
    fig = plot.draw_feature_maps(model, mnist[2][:1], max_maps=4)        # (1, C, H, W) is fine
    assert len(panels(fig, f"{model[2].name} map ")) == 4
    assert panels(fig, f"{model[2].name} map ")[0].get_title("left").endswith("the first 4 maps")
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match=r"x must be one input of shape \(C, H, W\), got shape "
                                         r"\(2, 1, 28, 28\); for a batch pick one sample"):
        plot.draw_feature_maps(model, mnist[2][:2])
    dense = mc.Sequential([Flatten(input_shape=(1, 4, 4)), Dense(3)])
    with pytest.raises(ValueError, match="has no Conv2D layer, so there are no feature maps"):
        plot.draw_feature_maps(dense, np.zeros((1, 4, 4), np.float32))


# ----------------------------------------------------------------------------- confusion
def test_confusion_matrix_counts_names_and_accuracy():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    counts = plot.confusion_counts(y_true, y_pred)
    for t in range(4):
        for p in range(4):
            assert counts[t, p] == np.sum((y_true == t) & (y_pred == p))
    names = ["cat", "dog", "emu", "fox"]
    fig = plot.draw_confusion_matrix(y_true, np.eye(4)[y_pred], names)    # scores work too
    ax = fig.axes[0]
    written = np.array([int(t.get_text()) for t in ax.texts]).reshape(4, 4)
    np.testing.assert_array_equal(written, counts)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), counts)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert f"accuracy {np.mean(y_true == y_pred):.2%} on 60 images" in ax.get_title()
    assert any(a.get_ylabel().startswith("images") for a in fig.axes[1:])  # the colour bar
    matplotlib.pyplot.close(fig)


def test_confusion_matrix_errors(tmp_path):
    path = tmp_path / "c.png"
    with pytest.raises(ValueError, match=r"got shapes \(3,\) and \(2,\)"):
        plot.confusion_matrix([0, 1, 2], [0, 1], path)
    with pytest.raises(ValueError, match="y_true must hold class numbers 0, 1, ..."):
        plot.confusion_matrix([0.5, 1.0], [0, 1], path)
    with pytest.raises(ValueError, match="y_pred must hold class numbers.*min -1"):
        plot.confusion_matrix([0, 1], [0, -1], path)
    with pytest.raises(ValueError, match="label 2 does not fit 2 classes"):
        plot.confusion_matrix([0, 2], [0, 1], path, class_names=["a", "b"])
    with pytest.raises(ValueError, match="no samples"):
        plot.confusion_matrix([], [], path)
    assert not path.exists()


# ----------------------------------------------------------------------------- mistakes
def test_misclassified_shows_only_wrong_predictions_most_confident_first(lenet, mnist):
    model, _ = lenet
    _, _, x, y = mnist
    outputs = model.predict(x)
    probs = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    wrong = np.flatnonzero(probs.argmax(axis=1) != y)
    assert 0 < len(wrong) < len(y)                      # the model is neither perfect nor nil
    fig = plot.draw_misclassified(model, x, y, max_images=len(wrong) + 5)
    shown = [int(ax.get_label().split()[1]) for ax in panels(fig, "image ")]
    assert sorted(shown) == sorted(wrong)
    confidence = [probs[i].max() for i in shown]
    assert confidence == sorted(confidence, reverse=True)
    for ax, i in zip(panels(fig, "image "), shown):
        assert ax.get_title().startswith(f"true {y[i]} / predicted {probs[i].argmax()}\n"
                                         f"(p={probs[i].max():.2f})")
        assert ax.get_images()[0].origin == "upper"
    assert fig.get_suptitle() == f"{len(wrong)} of {len(y)} images misclassified"
    matplotlib.pyplot.close(fig)
    fig = plot.draw_misclassified(model, x, y, class_names=[f"digit {d}" for d in range(10)],
                                  max_images=3)
    assert len(panels(fig, "image ")) == 3 and "the 3 most confident" in fig.get_suptitle()
    assert panels(fig, "image ")[0].get_title().startswith("true digit ")
    matplotlib.pyplot.close(fig)


def test_misclassified_when_all_are_right_and_bad_input(lenet, mnist, tmp_path):
    model, _ = lenet
    x = mnist[2][:20]
    y = model.predict(x).argmax(axis=1)                       # its own answers: all right
    fig = plot.draw_misclassified(model, x, y)
    assert not panels(fig, "image ")
    assert fig.axes[0].texts[0].get_text() == "no misclassified images: all 20 are right"
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match=r"y must hold one integer label per image, shape "
                                         r"\(20,\), got shape \(19,\)"):
        plot.misclassified(model, x, y[:19], tmp_path / "m.png")
    with pytest.raises(ValueError, match=r"x must be a batch of images \(N, C, H, W\)"):
        plot.misclassified(model, x[0], y[:1], tmp_path / "m.png")


def test_a_softmax_output_is_read_as_probabilities_not_softmaxed_again(mnist):
    mc.manual_seed(3)
    softmax_net = mc.Sequential([Conv2D(2, 3, activation="relu", input_shape=(1, 28, 28)),
                                 MaxPooling2D(4), Flatten(), Dense(10, activation="softmax")])
    x, y = mnist[2][:40], mnist[3][:40]
    index, predicted, confidence = plot.find_misclassified(softmax_net, x, y)
    probs = softmax_net.predict(x)
    np.testing.assert_allclose(confidence, probs[index, predicted], rtol=1e-6)


# ----------------------------------------------------------------------------- im2col
def im2col_by_definition(x, k, s, p):
    """cols[(c, i, j), (y, x)] = x_pad[c, y*s + i, x*s + j], by loops (the docs' formula)."""
    c, h, w = x.shape
    x_pad = np.pad(x, ((0, 0), (p, p), (p, p)))
    h_out, w_out = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    cols = np.zeros((c * k * k, h_out * w_out))
    for ch in range(c):
        for i in range(k):
            for j in range(k):
                for y in range(h_out):
                    for xx in range(w_out):
                        row, column = (ch * k + i) * k + j, y * w_out + xx
                        cols[row, column] = x_pad[ch, y * s + i, xx * s + j]
    return cols


@pytest.mark.parametrize("shape, k, s, p", [((1, 4, 4), 2, 1, 0), ((1, 5, 5), 3, 2, 0),
                                            ((2, 3, 3), 2, 1, 1), ((3, 4, 3), 2, 2, 1)])
def test_im2col_picture_is_minicnns_im2col_in_the_layout_conv2d_multiplies(shape, k, s, p):
    x, matrix, (h_out, w_out) = plot.im2col_matrix(shape, k, s, p)
    np.testing.assert_array_equal(x.ravel(), np.arange(1, np.prod(shape) + 1))
    np.testing.assert_array_equal(matrix, im2col_by_definition(x, k, s, p))
    # the layout conv2d uses: W.reshape(O, C*k*k) @ cols is the convolution
    w = np.random.default_rng(0).standard_normal((3, shape[0], k, k))
    out = (w.reshape(3, -1) @ matrix).reshape(3, h_out, w_out)
    np.testing.assert_allclose(out, F.conv2d(x[None], w, stride=s, padding=p).data[0],
                               rtol=1e-10)
    fig = plot.draw_im2col_unrolling(shape, k, s, p)
    (ax,) = panels(fig, "im2col matrix")
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), matrix)
    numbers = np.array([int(t.get_text()) for t in ax.texts]).reshape(matrix.shape)
    np.testing.assert_array_equal(numbers, matrix)                    # every cell numbered
    assert len(panels(fig, "input channel")) == shape[0]
    for ch, panel in enumerate(panels(fig, "input channel")):
        np.testing.assert_array_equal(panel.get_images()[0].get_array(),
                                      np.pad(x[ch], p))               # padding drawn as 0
    assert f"({matrix.shape[0]}, {matrix.shape[1]})" in ax.get_title()
    matplotlib.pyplot.close(fig)


def test_im2col_picture_errors(tmp_path):
    with pytest.raises(ValueError, match="too many pixels to number readably"):
        plot.im2col_unrolling(tmp_path / "i.png", input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        plot.im2col_unrolling(tmp_path / "i.png", input_shape=(4, 4))
    with pytest.raises(ValueError, match="too big to read"):
        plot.im2col_unrolling(tmp_path / "i.png", input_shape=(1, 8, 8), kernel_size=1)
    assert not (tmp_path / "i.png").exists()


# ----------------------------------------------------------------------------- the command
def test_minicnn_plot_commands_write_pngs_beside_the_checkpoint(run, capsys, tmp_path):
    checkpoint = str(run / "checkpoint.npz")
    backend = ["--backend", mc.get_backend()]
    commands = {"filters.png": ["filters", checkpoint],
                "features-7.png": ["features", checkpoint, "--index", "7", *backend],
                "confusion.png": ["confusion", checkpoint, *backend],
                "misclassified.png": ["misclassified", checkpoint, "--count", "4", *backend]}
    for name, command in commands.items():
        assert main(["plot", *command]) == 0, command
        assert capsys.readouterr().out.startswith(f"wrote {run / name}")
        read_png(run / name)
    assert main(["plot", "curves", str(run / "metrics.csv"), "--out",
                 str(tmp_path / "c.png")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'c.png'} (2 epochs)\n"
    read_png(tmp_path / "c.png")
    assert main(["plot", "im2col", "--input-shape", "1,3,3", "--kernel-size", "2",
                 "--padding", "1", "--out", str(tmp_path / "i.png")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'i.png'}\n"
    read_png(tmp_path / "i.png")


def test_minicnn_plot_command_errors(run, capsys, tmp_path):
    checkpoint = str(run / "checkpoint.npz")
    assert main(["plot", "features", checkpoint, "--index", "5000",
                 "--backend", mc.get_backend()]) == 1
    assert "--index 5000 is out of range: the mnist-sample test set has 1000 images" in \
        capsys.readouterr().err
    assert main(["plot", "filters", checkpoint, "--layer", "nope"]) == 1
    assert "no Conv2D layer named 'nope'" in capsys.readouterr().err
    assert main(["plot", "curves", str(tmp_path / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot"])                                    # argparse: PICTURE is required
    assert "PICTURE" in capsys.readouterr().err
