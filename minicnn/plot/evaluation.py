"""How a trained classifier does on held-out data: the confusion matrix and its mistakes."""
import math

import numpy as np

from ._figure import as_numpy, probabilities, pyplot, save, show_image


def confusion_counts(y_true, y_pred, num_classes=None):
    """counts[t, p] = how many samples of true class t were predicted as class p.

    y_true: (N,) integer labels; y_pred: (N,) predicted labels or (N, K) scores (argmax).
    Returns a (K, K) int64 array, K = num_classes or 1 + the largest label seen."""
    y_true, y_pred = _labels(y_true, y_pred)
    k = int(max(y_true.max(), y_pred.max())) + 1
    if num_classes is not None:
        if k > num_classes:
            raise ValueError(f"confusion_matrix: label {k - 1} does not fit {num_classes} "
                             f"classes; give one class name per class")
        k = num_classes
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def confusion_matrix(y_true, y_pred, path, class_names=None, title=None):
    """The confusion matrix as a picture: rows the true class, columns the predicted one,
    each cell the number of images (written in it) and coloured by it on a square-root
    scale, so that a handful of mistakes is visible beside the diagonal (colour bar).
    The title gives the accuracy, trace / N. Returns ``path``."""
    fig = draw_confusion_matrix(y_true, y_pred, class_names, title)
    return save(fig, path)


def draw_confusion_matrix(y_true, y_pred, class_names=None, title=None):
    """The Figure that ``confusion_matrix`` saves (see there)."""
    counts = confusion_counts(y_true, y_pred,
                              None if class_names is None else len(class_names))
    k = len(counts)
    names = [str(c) for c in range(k)] if class_names is None else [str(c) for c in class_names]
    accuracy = np.trace(counts) / counts.sum()
    plt = pyplot()
    size = max(4.5, 0.45 * k + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    # a square-root colour scale: the few mistakes off the diagonal still show next to
    # the large counts on it (the colour bar is marked in images all the same)
    from matplotlib.colors import PowerNorm
    norm = PowerNorm(0.5, vmin=0, vmax=max(int(counts.max()), 1))
    image = ax.imshow(counts, cmap="Blues", norm=norm, origin="upper")
    fig.colorbar(image, ax=ax, label="images (square-root colour scale)", shrink=0.85)
    font = 9 if k <= 12 else 6
    for t in range(k):                     # the counts, readable on light and dark cells
        for p in range(k):
            ax.text(p, t, int(counts[t, p]), ha="center", va="center", fontsize=font,
                    color="white" if norm(counts[t, p]) > 0.55 else "black")
    long_names = max(len(n) for n in names) > 2
    ax.set_xticks(range(k), names, rotation=90 if long_names else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class"), ax.set_ylabel("true class")
    heading = f"accuracy {accuracy:.2%} on {counts.sum()} images"
    ax.set_title(f"{title}\n{heading}" if title else f"confusion matrix, {heading}")
    fig.tight_layout()
    return fig


def misclassified(model, x, y, path, class_names=None, max_images=16, batch_size=256,
                  outputs=None):
    """A grid of the images ``model`` gets wrong, the most confident mistakes first, each
    titled "true X / predicted Y (p=0.83)" with p the probability it gave class Y.

    x: (N, C, H, W) as the model takes it (e.g. normalised; shown rescaled to [0, 1]);
    y: (N,) integer labels. When the model gets every image right the picture says so.
    outputs: the model's outputs for x (N, classes), if already computed (else predict).
    Returns ``path``."""
    fig = draw_misclassified(model, x, y, class_names, max_images, batch_size, outputs)
    return save(fig, path)


def find_misclassified(model, x, y, batch_size=256, outputs=None):
    """(indices, predicted, probability of the predicted class) of the wrongly classified
    samples, sorted by that probability, highest first. outputs: the model's outputs for
    x, if already computed."""
    x, y = as_numpy(x), as_numpy(y)
    if x.ndim != 4:
        raise ValueError(f"misclassified: x must be a batch of images (N, C, H, W), got shape "
                         f"{x.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"misclassified: y must hold one integer label per image, shape "
                         f"({len(x)},), got shape {y.shape}")
    if outputs is None:
        if not hasattr(model, "predict"):
            raise TypeError(f"misclassified: expected a model with predict() (a Sequential or "
                            f"Model), got {type(model).__name__}")
        outputs = model.predict(x, batch_size=batch_size)
    outputs = as_numpy(outputs)
    if outputs.ndim != 2 or len(outputs) != len(x):
        raise ValueError(f"misclassified: expected outputs of shape ({len(x)}, classes) for "
                         f"{len(x)} images, got {outputs.shape}")
    probs = probabilities(outputs)
    predicted = probs.argmax(axis=1)
    confidence = probs[np.arange(len(probs)), predicted]
    wrong = np.flatnonzero(predicted != y)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    return wrong, predicted[wrong], confidence[wrong]


def draw_misclassified(model, x, y, class_names=None, max_images=16, batch_size=256,
                       outputs=None):
    """The Figure that ``misclassified`` saves (see there)."""
    if not isinstance(max_images, int) or max_images < 1:
        raise ValueError(f"misclassified: max_images must be a positive int, got {max_images!r}")
    x, y = as_numpy(x), as_numpy(y).astype(np.int64)
    wrong, predicted, confidence = find_misclassified(model, x, y, batch_size, outputs)
    name = (lambda c: str(c)) if class_names is None else (lambda c: str(class_names[c]))
    plt = pyplot()
    shown = wrong[:max_images]
    if not len(shown):
        fig, ax = plt.subplots(figsize=(5, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no misclassified images: all {len(x)} are right", ha="center",
                va="center", fontsize=12)
        return fig
    columns = min(len(shown), 6)
    rows = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.75 * columns, 1.95 * rows + 0.6),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(shown):
            ax.set_visible(False)
            continue
        i = shown[k]
        show_image(ax, x[i])
        ax.set_title(f"true {name(y[i])} / predicted {name(predicted[k])}\n"
                     f"(p={confidence[k]:.2f}) #{i}", fontsize=8)
        ax.set_label(f"image {i}")
    heading = f"{len(wrong)} of {len(x)} images misclassified"
    if len(shown) < len(wrong):
        heading += f"; the {len(shown)} most confident mistakes"
    fig.suptitle(heading, fontsize=11)
    fig.tight_layout()
    return fig


def _labels(y_true, y_pred):
    y_true, y_pred = as_numpy(y_true), as_numpy(y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise ValueError(f"confusion_matrix: y_true must be (N,) labels and y_pred (N,) labels "
                         f"or (N, classes) scores; got shapes {y_true.shape} and {y_pred.shape}")
    if not len(y_true):
        raise ValueError("confusion_matrix: no samples (y_true is empty)")
    for what, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.dtype.kind not in "iu" or labels.min() < 0:
            raise ValueError(f"confusion_matrix: {what} must hold class numbers 0, 1, ... "
                             f"(non-negative ints), got dtype {labels.dtype}, "
                             f"min {labels.min()}")
    return y_true.astype(np.int64), y_pred.astype(np.int64)
