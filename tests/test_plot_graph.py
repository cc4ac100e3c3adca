"""minicnn.plot.autograd_graph: the drawn graph holds every Function and Tensor of the
autograd graph, once, with arrows in the forward direction and labels that do not overlap."""
import io
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from minicnn.plot import autograd_graph
from minicnn.plot.graph import AutogradGraph, draw, layout

import matplotlib.image   # in the dev extra (the plot extra's dependency)  # noqa: E402
import matplotlib.pyplot  # noqa: E402


def small_cnn_loss(batch=4):
    """Conv + ReLU (one fused op) -> MaxPool -> Flatten -> Dense -> cross-entropy."""
    mc.manual_seed(0)
    mc.layers.reset_names()                       # layers named conv2d, dense again
    model = mc.Sequential([Conv2D(3, 3, activation="relu", input_shape=(1, 10, 10)),
                           MaxPooling2D(2), Flatten(), Dense(5)])
    x = np.random.default_rng(0).random((batch, 1, 10, 10), dtype=np.float32)
    return F.cross_entropy(model(x), np.arange(batch) % 5)


def walk(root):
    """Tensors and Functions behind root, found by following creator and inputs
    (independently of minicnn's topological_order)."""
    tensors, functions, stack = {}, {}, [root]
    while stack:
        t = stack.pop()
        if id(t) in tensors:
            continue
        tensors[id(t)] = t
        if t.creator is not None:
            functions[id(t.creator)] = t.creator
            stack.extend(x for x in t.creator.inputs if x is not None)
    return tensors, functions


def drawn_nodes(fig):
    return [t.minicnn_node for t in fig.axes[0].texts if hasattr(t, "minicnn_node")]


def test_png_is_written_and_readable(tmp_path):
    path = tmp_path / "sub" / "graph.png"
    assert autograd_graph(small_cnn_loss(), path) == path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05            # not a blank page
    assert [p.name for p in path.parent.iterdir()] == ["graph.png"]   # no temporary left


def test_file_object_target():
    buffer = io.BytesIO()
    assert autograd_graph(small_cnn_loss(), buffer, title="small CNN") is buffer
    assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("build", ["cnn", "fan_out", "shared_weight"])
def test_every_function_and_tensor_is_drawn_once(build):
    if build == "cnn":
        root = small_cnn_loss()
    else:
        x = mc.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        w = mc.Tensor(np.ones((3, 3)), requires_grad=True)
        root = (x * x + x).sum() if build == "fan_out" else F.relu(x @ w @ w).sum()
    tensors, functions = walk(root)
    graph = AutogradGraph(root)
    fig = draw(graph)
    nodes = drawn_nodes(fig)
    assert len(nodes) == len(tensors) + len(functions)
    assert {id(n.obj) for n in nodes} == set(tensors) | set(functions)
    matplotlib.pyplot.close(fig)


def test_counts_of_a_hand_counted_graph():
    # x, w, b -> Linear -> ReLU -> Sum: tensors x, w, b, linear out, relu out, sum = 6;
    # functions Linear, ReLU, Sum = 3; edges 3 + 1, 1 + 1, 1 + 1 = 8
    x = mc.Tensor(np.ones((2, 3)))
    w = mc.Tensor(np.ones((3, 4)), requires_grad=True)
    b = mc.Tensor(np.ones(4), requires_grad=True)
    graph = AutogradGraph(F.relu(F.linear(x, w, b)).sum())
    assert (len(graph.tensors), len(graph.functions), len(graph.edges)) == (6, 3, 8)
    kinds = sorted(n.kind for n in graph.tensors)
    assert kinds == ["constant", "parameter", "parameter", "root", "tensor", "tensor"]


def test_arrows_point_forward_and_labels_do_not_overlap():
    graph = AutogradGraph(small_cnn_loss())
    rows, segments = layout(graph)
    for a, b in graph.edges:                         # input -> op -> output, downwards
        assert a.rank < b.rank
        assert (a.kind == "function") != (b.kind == "function")
    for chain in segments:                           # long edges bend once per row
        assert [n.rank for n in chain] == list(range(chain[0].rank, chain[-1].rank + 1))
    fig = draw(graph)
    renderer = fig.canvas.get_renderer()
    boxes = {}
    for text in fig.axes[0].texts:
        if hasattr(text, "minicnn_node"):
            boxes.setdefault(text.minicnn_node.rank, []).append(
                text.get_bbox_patch().get_window_extent(renderer))
    for row in boxes.values():
        row.sort(key=lambda box: box.x0)
        assert all(left.x1 < right.x0 for left, right in zip(row, row[1:]))
    matplotlib.pyplot.close(fig)


def test_labels_name_parameters_by_layer_and_show_shapes():
    graph = AutogradGraph(small_cnn_loss(batch=4))
    labels = [n.label for n in graph.nodes]
    assert "conv2d/kernel\n(3, 1, 3, 3)" in labels
    assert "dense/bias\n(5,)" in labels
    assert "input, no grad\n(4, 1, 10, 10)" in labels
    assert "Conv2dReLU\nin conv2d" in labels
    assert any(label.startswith("() = ") for label in labels)


def test_bad_input_says_what_to_change():
    with pytest.raises(TypeError, match="expected a minicnn Tensor"):
        autograd_graph(np.ones(3), io.BytesIO())
    x = mc.Tensor(np.ones(3), requires_grad=True)
    with mc.no_grad():
        y = (x * 2).sum()
    with pytest.raises(ValueError, match="no_grad"):
        autograd_graph(y, io.BytesIO())


def test_missing_matplotlib_names_the_extra(monkeypatch):
    x = mc.Tensor(np.ones(3), requires_grad=True)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib fails
    with pytest.raises(ImportError, match=r"pip install 'minicnn\[plot\]'"):
        autograd_graph(x.sum(), io.BytesIO())


def test_import_minicnn_does_not_import_matplotlib():
    code = ("import sys, minicnn, minicnn.plot; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
