"""Training curves: loss and accuracy per epoch, training and validation side by side."""
import csv
import json
import os

from ..train import History
from ._figure import pyplot, save

PANELS = (("loss", "loss"), ("accuracy", "accuracy"))


def training_curves(history, path, title=None):
    """Loss (left) and accuracy (right) against the epoch, training and validation.

    history: the History that ``fit`` returns, its ``.history`` dict ({"loss": [...],
    "val_loss": [...], "accuracy": [...], ...}: one value per epoch), or what
    ``read_history`` gives for a run folder. The x axis ticks whole epochs only.
    Returns ``path``."""
    return save(draw_training_curves(history, title), path)


def draw_training_curves(history, title=None):
    """The Figure that ``training_curves`` saves (see there)."""
    epochs, logs = _epochs_and_logs(history)
    panels = [(key, label) for key, label in PANELS if key in logs or "val_" + key in logs]
    if not panels:
        raise ValueError(f"training_curves: the history has neither 'loss' nor 'accuracy' "
                         f"(it has {sorted(logs)}); pass the History that fit() returned")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator, PercentFormatter
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for name, style, legend in ((key, "o-", "training"), ("val_" + key, "s--", "validation")):
            if name in logs:
                ax.plot(epochs, logs[name], style, label=legend)
        ax.set_xlabel("epoch"), ax.set_ylabel(label), ax.set_title(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))       # whole epochs only
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5), ax.set_xticks(epochs)
        if key == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.grid(alpha=0.3), ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _epochs_and_logs(history):
    """(epoch numbers counted from 1, {name: values}) from a History or its dict."""
    if isinstance(history, History):
        logs, epochs = history.history, [e + 1 for e in history.epoch]
    elif isinstance(history, dict):
        logs = history
        epochs = None
    else:
        raise TypeError(f"training_curves: expected the History that fit() returns or its "
                        f".history dict, got {type(history).__name__}")
    lengths = {name: len(values) for name, values in logs.items()}
    if not lengths or max(lengths.values()) == 0:
        raise ValueError("training_curves: the history is empty: train for at least one epoch")
    if epochs is None:
        epochs = list(range(1, max(lengths.values()) + 1))
    for name, n in lengths.items():
        if n != len(epochs):
            raise ValueError(f"training_curves: {name!r} has {n} values but there are "
                             f"{len(epochs)} epochs")
    return epochs, logs


def read_history(path):
    """A History from a run folder (its metrics.csv, else metrics.json), a metrics.csv
    or a metrics.json as ``minicnn train`` writes them."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder; give the --out folder of "
                                f"`minicnn train`, or its metrics.csv or metrics.json")
    if os.path.isdir(path):
        for name in ("metrics.csv", "metrics.json"):
            if os.path.exists(os.path.join(path, name)):
                return read_history(os.path.join(path, name))
        raise FileNotFoundError(f"{path}: no metrics.csv or metrics.json in this folder; "
                                f"give the --out folder of `minicnn train` or a metrics.csv")
    history = History()
    if path.endswith(".json"):
        with open(path) as f:
            logs = json.load(f).get("history")
        if not isinstance(logs, dict):
            raise ValueError(f"{path}: has no 'history' entry (expected metrics.json as "
                             f"`minicnn train` writes it)")
        for i in range(max((len(v) for v in logs.values()), default=0)):
            history.append(i, {k: v[i] for k, v in logs.items() if i < len(v)})
        return history
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0]:
        raise ValueError(f"{path}: expected a CSV file with a header 'epoch,loss,...' (the "
                         f"metrics.csv of `minicnn train`)")
    for row in rows:
        epoch = int(row.pop("epoch"))
        try:
            history.append(epoch - 1, {k: float(v) for k, v in row.items() if v != ""})
        except ValueError as error:
            raise ValueError(f"{path}: epoch {epoch}: {error}") from None
    return history
