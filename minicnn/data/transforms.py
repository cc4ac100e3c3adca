"""Transforms for batches of images x (N, C, H, W); the random ones take a NumPy Generator.

    augment = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])
    model.fit(x, y, transform=augment)        # fit passes a Generator seeded per batch

Each transform is a small class whose ``__call__(x, rng=None)`` returns a new array
(the input is never changed in place). Per-sample randomness is vectorised over the batch.
"""
import numpy as np

from .checks import check_pixels


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class ToFloat:
    """uint8 [0, 255] -> float32 [0, 1] (also other integer dtypes holding 0..255).

    Floats are refused: they are already converted, and dividing them again by 255
    would silently shrink them."""

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        check_pixels(x, "ToFloat: x", f"is {x.dtype}; ToFloat turns pixels 0..255 (uint8) into "
                     f"floats 0..1, so give it the integer images (or leave it out for images "
                     f"that are floats already)")
        return x.astype(np.float32) / np.float32(255)

    def __repr__(self):
        return "ToFloat()"


class Normalize:
    """x[:, c] <- (x[:, c] - mean[c]) / std[c], per channel (scalars broadcast)."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
        if (self.std <= 0).any():
            raise ValueError(f"Normalize: std must be positive, got {std}")

    def __call__(self, x, rng=None):
        if np.dtype(x.dtype).kind != "f":
            raise ValueError(f"Normalize: x is {x.dtype}; Normalize takes float images: put "
                             f"ToFloat() before it (Compose([ToFloat(), Normalize(...)]))")
        if self.mean.shape[1] not in (1, x.shape[1]):
            raise ValueError(f"Normalize has {self.mean.shape[1]} channel means but x has "
                             f"{x.shape[1]} channels (N, C, H, W)")
        return ((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32)

    @staticmethod
    def fit(x):
        """Normalize with the per-channel mean and std of x (N, C, H, W)."""
        x = np.asarray(x, np.float64)
        return Normalize(x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3)))

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class RandomCrop:
    """Zero-pad by ``padding`` on each side, then crop a random size x size window per
    sample: out[n] = padded[n, :, i:i+size, j:j+size], i, j uniform in [0, H+2p-size]."""

    def __init__(self, size, padding=0):
        self.size = (size, size) if isinstance(size, int) else size and tuple(size)
        self.padding = padding

    def __call__(self, x, rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        p, (h, w) = self.padding, self.size or x.shape[2:]      # None: the input's size
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        H, W = padded.shape[2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image "
                             f"{(H, W)}")
        n = len(x)
        top, left = rng.integers(0, H - h + 1, n), rng.integers(0, W - w + 1, n)
        rows = top[:, None] + np.arange(h)                    # (N, h)
        cols = left[:, None] + np.arange(w)                   # (N, w)
        index = np.arange(n)[:, None, None, None]
        channel = np.arange(x.shape[1])[None, :, None, None]
        return padded[index, channel, rows[:, None, :, None], cols[:, None, None, :]]

    def __repr__(self):
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomTranslation(RandomCrop):
    """Shift each image by up to ``max_shift`` pixels in each direction, filling with
    zeros: a RandomCrop of the original size with padding ``max_shift``."""

    def __init__(self, max_shift):
        super().__init__(None, padding=max_shift)
        self.max_shift = max_shift

    def __repr__(self):
        return f"RandomTranslation({self.max_shift})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x, rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        flip = rng.random(len(x)) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"
