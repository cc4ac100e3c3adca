"""Generated handwriting-like digits: a data set that needs no download.

``synthetic_digits(n)`` draws the digits 0-9 from the 5x7 bitmap font below and makes
each sample different, so a network has to learn the shapes rather than one template:

    scale      the glyph is 55-85 % of the image tall, 55-80 % as wide as tall
    shift      placed anywhere it fits
    slant      sheared by up to +-0.3 (upright to italic)
    stroke     thin, or thickened by one pixel to the right and/or down
    ink        brightness 0.6-1.0 on a background of 0-0.15
    noise      Gaussian, standard deviation 0.1, then clipped to [0, 1]

Rendering samples the glyph at each pixel's centre with bilinear interpolation
(anti-aliased edges). Everything comes from one NumPy Generator, so the same seed gives
the same images.
"""
import numpy as np

from ..rng import new_rng

# 5 columns x 7 rows per digit; '#' is ink.
FONT = {
    0: [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
    1: ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
    2: [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
    3: ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
    4: ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
    5: ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
    6: ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
    7: ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
    8: [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
    9: [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
}
GLYPH_ROWS, GLYPH_COLS = 7, 5


def glyph_bitmaps():
    """The font as a float array (10, 7, 5): 1 where there is ink."""
    return np.array([[[ch == "#" for ch in row] for row in FONT[d]] for d in range(10)],
                    dtype=np.float64)


def synthetic_digits(n, size=16, seed=0):
    """n generated digit images and their labels.

    Returns x: float32 (n, 1, size, size) with values in [0, 1], and y: int64 (n,) in 0..9.
    ``seed`` is an integer or a NumPy Generator; the same seed gives the same data.
    """
    if n < 0 or size < 8:
        raise ValueError(f"synthetic_digits: need n >= 0 and size >= 8, got n={n}, size={size}")
    rng = new_rng(seed)
    y = rng.integers(0, 10, size=n)

    # the glyph's box in pixels: height h, width w, top-left corner (top, left), slant
    h = size * rng.uniform(0.55, 0.85, n)
    w = h * rng.uniform(0.55, 0.80, n)
    slant = rng.uniform(-0.3, 0.3, n)
    sway = np.abs(slant) * h / 2                     # how far the slant moves the corners
    top = rng.uniform(0, 1, n) * (size - h)
    left = sway + rng.uniform(0, 1, n) * np.maximum(size - w - 2 * sway, 0)

    # every pixel centre, mapped into glyph coordinates (row v in [0, 7), column u in [0, 5))
    r = np.arange(size)[None, :, None] + 0.5          # (1, size, 1)
    c = np.arange(size)[None, None, :] + 0.5          # (1, 1, size)
    top, left, h, w, slant = (a[:, None, None] for a in (top, left, h, w, slant))
    v = (r - top) / h * GLYPH_ROWS
    u = (c - left + slant * (r - top - h / 2)) / w * GLYPH_COLS
    images = _bilinear(glyph_bitmaps()[y], v - 0.5, u - 0.5)

    # stroke thickness: add a copy shifted one pixel right and/or down
    right = rng.random(n) < 0.5
    down = rng.random(n) < 0.3
    images[right, :, 1:] = np.maximum(images[right, :, 1:], images[right, :, :-1])
    images[down, 1:, :] = np.maximum(images[down, 1:, :], images[down, :-1, :])

    ink = rng.uniform(0.6, 1.0, (n, 1, 1))
    background = rng.uniform(0.0, 0.15, (n, 1, 1))
    images = background + (ink - background) * images
    images += rng.normal(0.0, 0.1, images.shape)
    x = np.clip(images, 0.0, 1.0).astype(np.float32)[:, None]
    return x, y.astype(np.int64)


def _bilinear(glyphs, v, u):
    """Sample glyphs (n, 7, 5) at fractional (row v, column u) points; outside is 0.

    value = sum over the 4 neighbours (i, j) of glyph[i, j] (1 - |v - i|)(1 - |u - j|).
    """
    n = len(glyphs)
    padded = np.zeros((n, GLYPH_ROWS + 2, GLYPH_COLS + 2))
    padded[:, 1:-1, 1:-1] = glyphs                   # a border of zeros (no ink)
    v = np.clip(v + 1, 0, GLYPH_ROWS + 1)            # +1: index into the padded glyph
    u = np.clip(u + 1, 0, GLYPH_COLS + 1)
    v0 = np.minimum(np.floor(v).astype(int), GLYPH_ROWS)
    u0 = np.minimum(np.floor(u).astype(int), GLYPH_COLS)
    fv, fu = v - v0, u - u0
    k = np.arange(n)[:, None, None]
    return ((1 - fv) * (1 - fu) * padded[k, v0, u0] + (1 - fv) * fu * padded[k, v0, u0 + 1]
            + fv * (1 - fu) * padded[k, v0 + 1, u0] + fv * fu * padded[k, v0 + 1, u0 + 1])
