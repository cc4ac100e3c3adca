"""``python -m minicnn``: train a small CNN on generated digits and report its accuracy.

The whole Keras workflow in a few lines, on data that needs no download
(``minicnn.data.synthetic_digits``): build a Sequential model, print its summary,
compile, fit, evaluate on digits the model has never seen. About 10 seconds on
2 CPU cores.
"""
import time

import minicnn as mc
from minicnn.data import synthetic_digits
from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D


def digits_cnn(size=16):
    """A small LeNet-like CNN for the generated digits (1, size, size) -> 10 classes."""
    return mc.Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(1, size, size)),
        MaxPooling2D(2),
        Conv2D(32, 3, padding="same", activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def main(train_samples=6000, test_samples=2000, epochs=5, seed=0):
    mc.manual_seed(seed)
    x_train, y_train = synthetic_digits(train_samples, size=16, seed=seed)
    x_test, y_test = synthetic_digits(test_samples, size=16, seed=seed + 1)
    print(f"generated digits: {len(x_train)} for training, {len(x_test)} held out, "
          f"each {x_train.shape[1:]} (C, H, W)\n")

    model = digits_cnn()
    model.summary()

    model.compile(optimizer=mc.optim.Adam(learning_rate=3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, seed=seed,
              validation_data=(x_test[:500], y_test[:500]))
    loss, accuracy = model.evaluate(x_test, y_test)
    print(f"\nheld-out accuracy: {accuracy:.2%} (loss {loss:.4f}) on {len(x_test)} digits; "
          f"trained in {time.perf_counter() - start:.1f}s")
    return accuracy


if __name__ == "__main__":
    main()
