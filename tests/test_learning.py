"""A real learning check: a small CNN learns the generated digits.

The network (Conv2D 16@3x3 same, MaxPooling2D 2, Conv2D 32@3x3 same, MaxPooling2D 2,
Flatten, Dense 64 relu, Dense 10 softmax; 38,282 weights) is trained with Keras-style
compile/fit, Adam (lr 3e-3), batch 32, for 6 epochs on 4,000 generated 16x16 digits, and
tested on 1,000 digits it has never seen (another seed).

Measured: 98.0 % held-out accuracy with the seeds below, in about 6 s on 2 CPU cores
(the same recipe with seeds 0-4 gave 96.0-98.0 %). The test asserts >= 92 %: a broken
gradient, optimiser or training loop lands near 10 % (chance); a subtly wrong one well
below 92 %.

    PYTHONPATH=. .venv/bin/python -m pytest tests/test_learning.py -q -s
"""
import time

import minicnn as mc
from minicnn.data import synthetic_digits
from minicnn.__main__ import digits_cnn

THRESHOLD = 0.92


def small_cnn():
    return digits_cnn(16)        # the CNN of `python -m minicnn`


def test_small_cnn_learns_generated_digits():
    mc.manual_seed(0)
    x_train, y_train = synthetic_digits(4000, seed=0)
    x_test, y_test = synthetic_digits(1000, seed=100)
    model = small_cnn()
    model.compile(optimizer=mc.optim.Adam(lr=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=6, batch_size=32, seed=0, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test)
    seconds = time.perf_counter() - start
    print(f"\nheld-out accuracy {accuracy:.3f}, loss {loss:.4f}, trained in {seconds:.1f}s")
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy >= THRESHOLD, (f"held-out accuracy {accuracy:.3f} < {THRESHOLD} "
                                   f"(training loss per epoch: {history.history['loss']})")
