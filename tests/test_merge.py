"""Concatenate, Add, ZeroPadding2D, GlobalAveragePooling2D, AdaptiveAveragePooling2D and
ceil-mode pooling: ops against PyTorch, layers' shapes and float64 gradchecks, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.layers import (Add, AdaptiveAveragePooling2D, Concatenate, GlobalAveragePooling2D,
                            MaxPooling2D, AveragePooling2D, ZeroPadding2D)
from minicnn.testing import assert_matches_torch
from minicnn.testing.strategies import random_array, seeds


@given(st.lists(st.integers(1, 3), min_size=1, max_size=4), st.sampled_from([1, 2, 3, -1]), seeds)
def test_concatenate_matches_torch(sizes, axis, seed):
    shapes = []
    for i, s in enumerate(sizes):
        shape = [2, 3, 2, 2]
        shape[axis] = s
        shapes.append(tuple(shape))
    arrays = [random_array(seed + i, s) for i, s in enumerate(shapes)]
    assert_matches_torch(lambda *xs: F.concatenate(xs, axis=axis),
                         lambda *xs: torch.cat(xs, dim=axis), arrays)


@given(st.integers(1, 4), seeds)
def test_add_matches_torch(count, seed):
    arrays = [random_array(seed + i, (2, 3, 2, 1)) for i in range(count)]
    assert_matches_torch(lambda *xs: F.add(xs), lambda *xs: sum(xs[1:], xs[0]), arrays)


@given(st.tuples(*[st.integers(0, 3)] * 4), seeds)
def test_zero_pad2d_matches_torch(pads, seed):
    top, bottom, left, right = pads
    assert_matches_torch(lambda x: F.zero_pad2d(x, ((top, bottom), (left, right))),
                         lambda x: torch.nn.functional.pad(x, (left, right, top, bottom)),
                         [random_array(seed, (2, 2, 3, 4))])


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5), seeds)
def test_adaptive_avg_pool2d_matches_torch(h, w, oh, ow, seed):
    assert_matches_torch(lambda x: F.adaptive_avg_pool2d(x, (oh, ow)),
                         lambda x: torch.nn.functional.adaptive_avg_pool2d(x, (oh, ow)),
                         [random_array(seed, (2, 3, h, w))])


def test_global_avg_pool2d_matches_torch():
    assert_matches_torch(lambda x: F.global_avg_pool2d(x),
                         lambda x: x.mean(dim=(2, 3)), [random_array(0, (2, 3, 4, 5))])


@given(st.integers(3, 12), st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), seeds)
def test_ceil_mode_pooling_layers_match_torch(size, kernel, stride, padding, seed):
    padding = min(padding, kernel // 2)
    x = random_array(seed, (1, 2, size, size + 1))
    for ours, theirs in ((MaxPooling2D, torch.nn.MaxPool2d), (AveragePooling2D, torch.nn.AvgPool2d)):
        layer = ours(kernel, stride, padding=padding, ceil_mode=True)
        out = assert_matches_torch(layer, theirs(kernel, stride, padding, ceil_mode=True), [x])
        assert out.shape[1:] == layer.compute_output_shape(x.shape[1:])


def test_merge_and_padding_layers_shapes_and_gradchecks():
    a, b = random_array(0, (2, 3, 4, 4)), random_array(1, (2, 2, 4, 4))
    cat = Concatenate()
    assert cat([a, b]).shape == (2, 5, 4, 4)
    assert cat.compute_output_shape([(3, 4, 4), (2, 4, 4)]) == (5, 4, 4)
    mc.gradcheck(lambda x, y: cat([x, y]), [a, b])
    add = Add()
    mc.gradcheck(lambda x, y, z: add([x, y, z]), [a, random_array(2, a.shape), random_array(3, a.shape)])
    pad = ZeroPadding2D(((1, 0), (2, 3)))
    assert pad.compute_output_shape((3, 4, 4)) == (3, 5, 9) and pad(a).shape == (2, 3, 5, 9)
    mc.gradcheck(pad, [a])
    gap = GlobalAveragePooling2D()
    assert gap(a).shape == (2, 3) and GlobalAveragePooling2D(keepdims=True)(a).shape == (2, 3, 1, 1)
    mc.gradcheck(gap, [a])
    adaptive = AdaptiveAveragePooling2D((3, 2))
    assert adaptive.compute_output_shape((3, 4, 4)) == (3, 3, 2)
    mc.gradcheck(adaptive, [a])


def test_merge_errors_name_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"Concatenate 'cat': every input must match input 0 "
                                         r"\(None, 3, 4, 4\) except on axis 1; input 1 is "
                                         r"\(None, 2, 5, 4\)"):
        Concatenate(name="cat")([np.zeros((1, 3, 4, 4)), np.zeros((1, 2, 5, 4))])
    with pytest.raises(ValueError, match=r"Add 'join': every input must have the shape of input 0 "
                                         r"\(None, 3, 4, 4\); input 1 is \(None, 4, 4, 4\)"):
        Add(name="join")([np.zeros((1, 3, 4, 4)), np.zeros((1, 4, 4, 4))])
    with pytest.raises(TypeError, match="expected a list of at least two inputs"):
        Add()(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="different batch sizes"):
        Add()([np.zeros((1, 3)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="axis must be an int other than 0"):
        Concatenate(axis=0)
    with pytest.raises(TypeError, match="ZeroPadding2D 'pad': padding must be"):
        ZeroPadding2D("same", name="pad")
