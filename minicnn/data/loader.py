"""BatchIterator: seeded, shuffled batches that never copy the whole data set.

    for x_batch, y_batch in BatchIterator(x, y, batch_size=64, seed=0, transform=augment):
        ...

Each epoch draws a permutation of the indices (from (seed, epoch)) and gathers one batch
at a time with ``x[index]``: only a batch is copied, however large x is. Iterating again
starts the next epoch (a new order); ``epoch`` says which.
"""
import numpy as np


class BatchIterator:
    """Batches of (x, y) in a shuffled order, optionally transformed (x only)."""

    def __init__(self, x, y, batch_size=32, shuffle=True, seed=0, transform=None,
                 drop_last=False):
        if len(x) != len(y):
            raise ValueError(f"BatchIterator: x has {len(x)} samples but y has {len(y)}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise ValueError(f"BatchIterator: batch_size must be a whole number >= 1, got "
                             f"{batch_size!r}")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.seed, self.transform, self.drop_last = shuffle, seed, transform, drop_last
        self.epoch = 0

    def __len__(self):
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch):
        """The sample order of ``epoch`` (the same every time for the same seed)."""
        n = len(self.x)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle \
            else np.arange(n)

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        order = self.order(epoch)
        for b in range(len(self)):
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.x[index]
            if self.transform is not None:
                x = self.transform(x, np.random.default_rng([self.seed, epoch, b]))
            yield x, self.y[index]
