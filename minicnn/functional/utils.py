"""Shape arithmetic shared by the convolution and pooling ops (and their layers).

Output size of a window op along one axis (PyTorch's and Chainer's formula):

    H_out = (H + p_top + p_bottom - d * (k - 1) - 1) // s + 1

with kernel k, stride s, dilation d and padding p on each side.
"""


def pair(value, name="value"):
    """(a, b) from an int or a pair of ints."""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def positive_pair(value, name):
    """pair(value), checking that both numbers are at least 1."""
    a, b = pair(value, name)
    if a < 1 or b < 1:
        raise ValueError(f"{name} must be at least 1, got {value!r}")
    return a, b


def same_padding(size, kernel, stride, dilation):
    """(before, after) padding so that H_out = ceil(H / stride), as Keras/TensorFlow 'same'.

    For stride 1 this is PyTorch's padding='same': total d*(k-1), the odd one after.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def normalize_padding(padding, kernel, stride, dilation, size):
    """Padding as ((top, bottom), (left, right)).

    padding: an int, a pair (ph, pw), 'valid' (no padding) or 'same' (output size
    ceil(H / stride); symmetric for stride 1 and odd kernels).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return (same_padding(size[0], kernel[0], stride[0], dilation[0]),
                    same_padding(size[1], kernel[1], stride[1], dilation[1]))
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding)):
        (pt, pb), (pl, pr) = pair(tuple(padding[0]), "padding"), pair(tuple(padding[1]), "padding")
    else:
        ph, pw = pair(padding, "padding")
        pt, pb, pl, pr = ph, ph, pw, pw
    if min(pt, pb, pl, pr) < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return (pt, pb), (pl, pr)


def window_output_size(size, kernel, stride, padding, dilation=1):
    """H_out = (H + p_before + p_after - d*(k-1) - 1) // s + 1 for one axis."""
    before, after = padding
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def window_output_shape(in_hw, kernel, stride, padding, dilation=(1, 1), op="conv2d"):
    """(H_out, W_out) of a 2-D window op, or a ValueError that says why it is empty."""
    out = []
    for axis, name in enumerate(("height", "width")):
        o = window_output_size(in_hw[axis], kernel[axis], stride[axis], padding[axis], dilation[axis])
        if o < 1:
            span = dilation[axis] * (kernel[axis] - 1) + 1
            padded = in_hw[axis] + sum(padding[axis])
            raise ValueError(
                f"{op}: the kernel spans {span} pixels in {name} but the padded input is only "
                f"{padded} (input {in_hw[axis]} + padding {padding[axis][0]}+{padding[axis][1]}); "
                f"use a smaller kernel or dilation, more padding, or a larger input")
        out.append(o)
    return tuple(out)
