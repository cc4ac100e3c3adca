"""Engine faults that must give a clear error instead of wrong numbers (issue 11, section 4):
a second backward through a freed graph, constructor arguments of the wrong type or
range (also what a checkpoint's config could hold), and an op that runs out of memory."""
import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.functional.conv as conv_module
from minicnn.layers import (AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout,
                            Flatten, GlobalAveragePooling2D, LocalResponseNormalization,
                            MaxPooling2D)
from minicnn.tensor import Function, OutOfMemoryError


@pytest.fixture(autouse=True)
def fresh_names():
    mc.layers.reset_names()


# ----------------------------------------------------------------------------- backward twice
def test_a_second_backward_through_one_graph_is_refused_and_adds_nothing():
    x = mc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(RuntimeError, match=r"^Trying to backward through the graph a second "
                                           r"time: op '(Mul|Sum)' already ran its backward.*"
                                           r"Specify retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])        # not doubled


def test_retain_graph_keeps_the_graph_for_another_walk():
    x = mc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()                                            # allowed: the first one kept it
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])          # accumulated, as asked
    with pytest.raises(RuntimeError, match="a second time"):
        loss.backward()                                        # the second one freed it


def test_a_second_backward_through_a_model_names_the_layer():
    model = mc.Sequential([Dense(3, input_shape=(4,)), Dense(2)])
    loss = F.cross_entropy(model(np.ones((2, 4), np.float32)), [0, 1])
    loss.backward()
    grads = [p.grad.copy() for p in model.parameters()]
    with pytest.raises(RuntimeError, match=r"in layer 'dense(_1)?'.*retain_graph=True"):
        loss.backward()
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, g)
    F.cross_entropy(model(np.ones((2, 4), np.float32)), [0, 1]).backward()   # a new graph: fine


def test_backward_frees_the_arrays_ops_saved():
    x = mc.Tensor(np.ones((2, 3, 6, 6), np.float32), requires_grad=True)
    w = mc.Tensor(np.ones((4, 3, 3, 3), np.float32), requires_grad=True)
    with mc.use_backend("numpy"):
        y = F.conv2d(x, w)
    op = y.creator
    assert isinstance(op.cols, np.ndarray)
    y.sum().backward()
    assert op.released and "cols" not in vars(op)
    assert op.x_shape == (2, 3, 6, 6)                          # shapes and settings stay
    with pytest.raises(RuntimeError, match=r"read the saved array 'cols' of op 'Conv2d' after "
                                           r"it was freed.*retain_graph=True"):
        op.cols


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("make, error, message", [
    (lambda: Dense(2, use_bias="false"), TypeError,
     r"Dense 'dense': use_bias must be True or False, got 'false'"),
    (lambda: Conv2D(2, 3, use_bias=0), TypeError,
     r"Conv2D 'conv2d': use_bias must be True or False, got 0"),
    (lambda: BatchNormalization(center="no"), TypeError,
     r"BatchNormalization 'batch_normalization': center must be True or False"),
    (lambda: BatchNormalization(scale=None), TypeError, r"scale must be True or False, got None"),
    (lambda: MaxPooling2D(2, ceil_mode="yes"), TypeError,
     r"MaxPooling2D 'max_pooling2d': ceil_mode must be True or False"),
    (lambda: GlobalAveragePooling2D(keepdims=1), TypeError, r"keepdims must be True or False"),
    (lambda: LocalResponseNormalization(alpha=-1), ValueError,
     r"LocalResponseNormalization 'local_response_normalization': alpha must be zero or "
     r"positive, got -1"),
    (lambda: LocalResponseNormalization(beta=math.nan), ValueError,
     r"beta must be zero or positive"),
    (lambda: LocalResponseNormalization(k=-2.0), ValueError, r"k must be positive, got -2.0"),
    (lambda: LocalResponseNormalization(size=2.5), ValueError, r"size must be a positive integer"),
    (lambda: BatchNormalization(momentum="0.9"), TypeError,
     r"BatchNormalization 'batch_normalization': momentum must be a number, got '0.9' "
     r"\(Keras' convention"),
    (lambda: BatchNormalization(momentum=1.5), ValueError,
     r"momentum must be a number in \[0, 1\], got 1.5"),
    (lambda: BatchNormalization(momentum=math.nan), ValueError, r"momentum must be a number in"),
    (lambda: BatchNormalization(epsilon=0), ValueError, r"epsilon must be positive, got 0"),
    (lambda: BatchNormalization(epsilon=math.inf), ValueError, r"epsilon must be positive"),
    (lambda: BatchNormalization(epsilon="1e-3"), TypeError,
     r"epsilon must be a number, got '1e-3'"),
    (lambda: Dropout(0.5, seed="7"), TypeError,
     r"Dropout 'dropout': seed must be an int or None, got '7'"),
    (lambda: Dropout(0.5, seed=1.5), TypeError, r"seed must be an int or None, got 1.5"),
    (lambda: Dropout(0.5, seed=-1), ValueError, r"seed must not be negative, got -1"),
    (lambda: Dropout(True), TypeError, r"rate must be a number, got True"),
    (lambda: Dropout(math.nan), ValueError, r"rate must be a number in \[0, 1\), got nan"),
    (lambda: Dense(2, dtype="float"), None, None),
    (lambda: Dense(2, dtype="flaot32"), TypeError,
     r"Dense 'dense': dtype must be a float type, got 'flaot32'; use one of 'float16', "
     r"'float32', 'float64'"),
    (lambda: Conv2D(2, 3, dtype=object), TypeError, r"dtype must be a float type"),
    (lambda: Dense(2, dtype={"a": 1}), TypeError, r"dtype must be a float type, got \{'a': 1\}"),
    (lambda: Dense(2, input_dim="4"), ValueError, r"Dense 'dense': input_dim must be a positive"),
    (lambda: AveragePooling2D(2, ceil_mode=1), TypeError, r"ceil_mode must be True or False"),
])
def test_constructor_arguments_of_the_wrong_type_or_range(make, error, message):
    if error is None:
        make()                                             # accepted (float is float64)
        return
    with pytest.raises(error, match=message):
        make()


def test_a_config_from_a_file_is_checked_like_a_call():
    # from_config is how a checkpoint's architecture is rebuilt: the same checks apply
    with pytest.raises(TypeError, match="Dense 'd': use_bias must be True or False, got 'false'"):
        Dense.from_config({"units": 2, "use_bias": "false", "name": "d"})
    with pytest.raises(ValueError, match="alpha must be zero or positive"):
        LocalResponseNormalization.from_config({"alpha": -1.0})


def test_valid_arguments_keep_working():
    assert Dense(2, use_bias=np.bool_(False)).use_bias is False
    assert Dropout(0.5, seed=np.int64(3)).seed == 3
    assert BatchNormalization(momentum=0, epsilon=1e-5).momentum == 0.0
    assert Dense(2, dtype=np.float64).dtype == np.float64
    lrn = LocalResponseNormalization(5, alpha=0, beta=0.75, k=1)
    y = lrn(np.ones((1, 6, 2, 2), np.float32))
    assert np.isfinite(y.data).all()


# ----------------------------------------------------------------------------- memory
def _numpy_memory_error(shape, dtype=np.float32):
    """NumPy's own error for an allocation that failed, made without allocating anything
    (its class is private: numpy._core in NumPy 2, numpy.core in NumPy 1)."""
    try:
        from numpy._core._exceptions import _ArrayMemoryError
    except ImportError:
        from numpy.core._exceptions import _ArrayMemoryError
    return _ArrayMemoryError(shape, np.dtype(dtype))


def test_an_op_out_of_memory_names_the_layer_op_array_and_what_to_change(monkeypatch):
    vgg_cols = (32, 64, 3, 3, 224, 224)                     # VGG-16's block1_conv2 at batch 32
    error = _numpy_memory_error(vgg_cols)
    assert isinstance(error, MemoryError) and "3.45 GiB" in str(error)

    def im2col(*args, **kwargs):
        raise error
    monkeypatch.setattr(conv_module, "im2col", im2col)
    model = mc.Sequential([Conv2D(4, 3, padding="same", input_shape=(3, 8, 8), name="conv_a"),
                           Flatten(), Dense(2)])
    with mc.use_backend("numpy"):
        with pytest.raises(OutOfMemoryError) as caught:
            model(np.zeros((2, 3, 8, 8), np.float32))
    message = str(caught.value)
    assert isinstance(caught.value, MemoryError)
    assert caught.value.__cause__ is error                  # NumPy's error stays attached
    assert message.startswith("out of memory in layer 'conv_a', op 'Conv2d' (forward): could "
                              "not allocate an array of shape (32, 64, 3, 3, 224, 224) "
                              "(float32, 3.45 GiB)")
    assert "the op's inputs: (2, 3, 8, 8) float32, (4, 3, 3, 3) float32, (4,) float32" in message
    assert "use a smaller batch size (the arrays grow with it: this batch has 2 samples" in message
    assert "the numba backend" in message and "im2col columns in chunks" in message
    assert "model.summary(batch_size=N)" in message


def test_out_of_memory_in_backward_says_backward(monkeypatch):
    def col2im(*args, **kwargs):
        raise MemoryError()                                  # a plain one: no shape known
    monkeypatch.setattr(conv_module, "col2im", col2im)
    layer = Conv2D(2, 3, input_shape=(1, 5, 5), name="c")
    with mc.use_backend("numpy"):
        y = layer(mc.Tensor(np.ones((3, 1, 5, 5), np.float32), requires_grad=True))
        with pytest.raises(OutOfMemoryError, match=r"^out of memory in layer 'c', op 'Conv2d' "
                                                   r"\(backward\): could not allocate memory; "
                                                   r"the op's output gradient: \(3, 2, 3, 3\) "
                                                   r"float32\. To fit in memory, use a smaller "
                                                   r"batch size"):
            y.sum().backward()


def test_out_of_memory_off_the_numpy_backend_does_not_suggest_numba():
    class Allocate(Function):
        def forward(self, x):
            raise MemoryError("cannot allocate")
    with mc.use_backend("numba"):                    # numba is a core dependency: never skip
        with pytest.raises(OutOfMemoryError) as caught:
            Allocate()(np.ones((4, 2)))
    assert "op 'Allocate' (forward): cannot allocate" in str(caught.value)
    assert "numba" not in str(caught.value)


def test_tensor_and_parameter_flags_must_be_bools():
    with pytest.raises(TypeError, match="Tensor: requires_grad must be True or False, got 'no'"):
        mc.Tensor([1.0], requires_grad="no")
    with pytest.raises(TypeError, match="Parameter 'w': trainable must be True or False, "
                                        "got 'false'"):
        mc.Parameter(np.ones(2), name="w", trainable="false")
    assert mc.Tensor([1.0], requires_grad=np.bool_(True)).requires_grad is True


def test_model_summary_takes_the_batch_size_the_memory_advice_names():
    model = mc.Sequential([Conv2D(4, 3, input_shape=(1, 8, 8)), Flatten(), Dense(2)])
    text = model.summary(batch_size=32, print_fn=None)
    assert "Memory (N=32)" in text


def test_bool_class_labels_are_refused_by_the_loss_with_the_fix():
    logits = mc.Tensor(np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match=r"labels must be integer class indices, got dtype bool "
                                        r"\(pass labels.astype\(np.int64\)\)"):
        mc.functional.cross_entropy(logits, np.array([True, False, True]))
