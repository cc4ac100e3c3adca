"""The im2col unrolling of a small input: which input pixel lands in which column.

The matrix drawn is what ``minicnn.functional.conv.im2col`` returns for the input,
reshaped exactly as ``Conv2d.forward`` reshapes it before the matrix product:

    cols[c, i, j, u, v] = x_pad[c, u*s + i, v*s + j]      (im2col, one sample)
    cols.reshape(C*kh*kw, H_out*W_out)                   row (c, i, j), column (u, v)

The kernel's taps are drawn as w1, w2, ... (row by row), the entries of W[o] that
multiply each row of the matrix; b[o] is the bias.
    out = W.reshape(O, C*kh*kw) @ cols                   then reshaped to (O, H_out, W_out)
"""
import numpy as np

from ..functional.conv import im2col
from ..functional.utils import normalize_padding, pair
from ._figure import pyplot, save

MAX_PIXELS = 64
MAX_COLUMNS = 49
MAX_TAPS = 26


def im2col_matrix(input_shape=(1, 4, 4), kernel_size=2, stride=1, padding=0):
    """(x, cols, (H_out, W_out)): x (C, H, W) numbers the pixels 1, 2, ... (channel by
    channel, row by row) and cols is minicnn's im2col of x as the (C*kh*kw, H_out*W_out)
    matrix conv2d multiplies; a 0 in cols is padding."""
    c, h, w = _shape(input_shape)
    x = np.arange(1, c * h * w + 1, dtype=np.float64).reshape(1, c, h, w)
    cols = im2col(x, kernel_size, stride, padding)[0]        # (C, kh, kw, H_out, W_out)
    _, kh, kw, h_out, w_out = cols.shape
    return x[0], cols.reshape(c * kh * kw, h_out * w_out), (h_out, w_out)


def im2col_unrolling(path, input_shape=(1, 4, 4), kernel_size=2, stride=1, padding=0):
    """Draw a small input with numbered pixels, the kernel's taps, and the im2col matrix it
    unrolls into (minicnn's own im2col), each cell coloured and numbered by the input
    pixel it copies; the first two output positions' windows and columns are outlined.
    Returns ``path``."""
    fig = draw_im2col_unrolling(input_shape, kernel_size, stride, padding)
    return save(fig, path)


def draw_im2col_unrolling(input_shape=(1, 4, 4), kernel_size=2, stride=1, padding=0):
    """The Figure that ``im2col_unrolling`` saves (see there)."""
    x, matrix, (h_out, w_out) = im2col_matrix(input_shape, kernel_size, stride, padding)
    c, h, w = x.shape
    taps, positions = matrix.shape
    (kh, kw), (sh, sw) = pair(kernel_size, "kernel_size"), pair(stride, "stride")
    if positions > MAX_COLUMNS or taps > MAX_TAPS:
        raise ValueError(f"im2col_unrolling: the matrix would be {taps}x{positions}, too big to "
                         f"read; use a smaller input or kernel (at most {MAX_TAPS} rows, "
                         f"{MAX_COLUMNS} columns)")
    (pt, pb), (pl, pr) = normalize_padding(padding, (kh, kw), (sh, sw), (1, 1), (h, w))
    x_pad = np.pad(x, ((0, 0), (pt, pb), (pl, pr)))             # as im2col pads: zeros
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    n = c * h * w
    palette = [plt.get_cmap("tab20")(k % 20) for k in range(n)]
    cmap = ListedColormap([(1, 1, 1, 1)] + palette)               # 0 = padding: white
    norm = BoundaryNorm(np.arange(-0.5, n + 1.5), n + 1)
    hp, wp = x_pad.shape[1:]
    fig = plt.figure(figsize=(3.0 + 0.55 * (wp + kw + positions), 1.4 + 0.55 * max(hp * c, taps)))
    grid = fig.add_gridspec(c, 3, width_ratios=[wp + 0.5, kw + 1.0, positions + 3.0],
                            wspace=0.3, hspace=0.45)
    outlined = min(positions, 2)              # the windows of output positions 0 and 1
    for ch in range(c):
        ax = fig.add_subplot(grid[ch, 0])
        ax.imshow(x_pad[ch], cmap=cmap, norm=norm, origin="upper")
        ax.set_label(f"input channel {ch}")
        _numbers(ax, x_pad[ch], palette)
        _cell_grid(ax, hp, wp)
        ax.set_xticks(range(wp), range(-pl, w + pr)), ax.set_yticks(range(hp), range(-pt, h + pb))
        padded = ", padded (0 = padding)" if pt + pb + pl + pr else ""
        channel = f"channel {ch} of " if c > 1 else ""
        ax.set_title(f"{channel}input x ({c}x{h}x{w}){padded}", fontsize=9)
        ax.set_xlabel("column"), ax.set_ylabel("row")
        for k in range(outlined):
            u, v = divmod(k, w_out)
            _outline(ax, v * sw - 0.5, u * sh - 0.5, kw, kh, k)
        ax = fig.add_subplot(grid[ch, 1])
        ax.imshow(np.zeros((kh, kw)), cmap="Greys", vmin=0, vmax=1, origin="upper")
        for i in range(kh):
            for j in range(kw):
                ax.text(j, i, _tap((ch * kh + i) * kw + j), ha="center", va="center",
                        fontsize=11, fontweight="bold")
        ax.set_xticks(range(kw)), ax.set_yticks(range(kh))
        ax.set_xticks(np.arange(-0.5, kw), minor=True)
        ax.set_yticks(np.arange(-0.5, kh), minor=True)
        ax.grid(which="minor", color="black", linewidth=1)
        ax.set_xlabel("j"), ax.set_ylabel("i", rotation=0, labelpad=8)
        ax.set_title(f"kernel W[o, {ch}]" if c > 1 else "kernel W[o, 0]", fontsize=9)
    ax = fig.add_subplot(grid[:, 2])
    ax.imshow(matrix, cmap=cmap, norm=norm, origin="upper")
    ax.set_label("im2col matrix")
    _numbers(ax, matrix, palette)
    _cell_grid(ax, taps, positions)
    for k in range(outlined):
        _outline(ax, k - 0.5, -0.5, 1, taps, k)
    ax.set_xticks(range(positions), [f"({u},{v})" for u in range(h_out) for v in range(w_out)],
                  rotation=90, fontsize=8)
    ax.set_yticks(range(taps), [f"{_tap(r)} = ({r // (kh * kw)},{r // kw % kh},{r % kw})"
                                for r in range(taps)], fontsize=8)
    ax.set_xlabel("column = output position (u, v)")
    ax.set_title(f"im2col matrix cols, ({c}*{kh}*{kw}, {h_out}*{w_out}) = ({taps}, {positions})\n"
                 f"row = kernel tap (c, i, j), column = output position (u, v)", fontsize=9)
    sums = [f"out[o, {k // w_out}, {k % w_out}] = " + _dot(matrix[:, k]) + " + b[o]"
            for k in range(outlined)]
    fig.suptitle(f"im2col: kernel {kh}x{kw}, stride {_text(sh, sw)}, padding "
                 f"{_text(pt, pl) if (pt, pl) == (pb, pr) else ((pt, pb), (pl, pr))}:  "
                 f"cols[(c,i,j), (u,v)] = x_pad[c, u*{sh}+i, v*{sw}+j]\n"
                 f"conv2d: out = W.reshape(O, {taps}) @ cols, reshaped to (O, {h_out}, {w_out})",
                 fontsize=10, y=1.02)
    fig.text(0.5, 0.0, "outlined:   " + "     ".join(sums), ha="center", va="top", fontsize=10)
    return fig


def _outline(ax, left, top, width, height, k):
    """Window/column k: k = 0 a solid box, k = 1 a dashed box drawn a little inside."""
    from matplotlib.patches import Rectangle
    inset = 0.1 * k
    ax.add_patch(Rectangle((left + inset, top + inset), width - 2 * inset, height - 2 * inset,
                           fill=False, edgecolor="black", linestyle="-" if k == 0 else "--",
                           linewidth=2.5, zorder=3))


def _tap(r):
    """The name of the kernel tap of matrix row r: w1, w2, ..."""
    return f"w{r + 1}"


def _dot(column):
    """'w1*1 + w2*2 + ...' for one im2col column (padding entries shown as 0)."""
    terms = [f"{_tap(r)}*{int(v)}" for r, v in enumerate(column)]
    return " + ".join(terms if len(terms) <= 9 else terms[:4] + ["..."] + terms[-2:])


def _text(a, b):
    return str(a) if a == b else f"({a}, {b})"


def _numbers(ax, values, palette):
    """Write each cell's pixel number, white on dark colours and black on light ones."""
    for (r, col), v in np.ndenumerate(values):
        colour = palette[int(v) - 1] if v > 0 else (1, 1, 1, 1)
        light = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] > 0.55
        ax.text(col, r, str(int(v)), ha="center", va="center", fontsize=9,
                color="black" if light else "white")


def _cell_grid(ax, rows, columns):
    ax.set_xticks(np.arange(-0.5, columns), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)


def _shape(input_shape):
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValueError(f"im2col_unrolling: input_shape must be (C, H, W) with positive ints, "
                         f"got {input_shape!r}")
    if shape[0] > 3 or np.prod(shape) > MAX_PIXELS:
        raise ValueError(f"im2col_unrolling: input_shape {shape} has too many pixels to number "
                         f"readably; use at most 3 channels and {MAX_PIXELS} pixels, e.g. "
                         f"(1, 4, 4)")
    return shape

