"""The ``minicnn`` command (also ``python -m minicnn``).

    minicnn train lenet                       # the embedded MNIST sample, about a minute
    minicnn train lenet --dataset mnist --out runs/mnist
    minicnn train lenet --dataset cifar10 --train-batches 1
    minicnn train lenet --resume runs/mnist/checkpoint.npz    # after Ctrl-C
    minicnn evaluate runs/mnist/checkpoint.npz                # accuracy, per class, confusion
    minicnn predict runs/mnist/checkpoint.npz --count 8
    minicnn plot filters runs/mnist/checkpoint.npz             # also: curves RUN_DIR, features,
    minicnn plot im2col                                        #   confusion, misclassified
    minicnn summary lenet --dataset cifar10
    minicnn explain lenet                                     # each layer's cost, one step
    minicnn explain runs/mnist/checkpoint.npz --dataset mnist --json explain.json
    minicnn explain --step conv2d        # one op's forward and backward, with the numbers
    minicnn datasets                                          # what is found where
    minicnn models                                            # the architectures, their inputs

Each data set has a recipe (RECIPES: epochs, batch size, optimiser, learning rate,
schedule, augmentation); every option overrides its part. ``train`` writes to --out:
checkpoint.npz (resumable; also written on Ctrl-C), metrics.csv, metrics.json and, with
the ``plot`` extra (matplotlib), curves.png.
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np

import minicnn as mc
from . import callbacks as cb
from .files import SaveError, atomic_write, check_writable_folder
from .data import (DatasetNotFoundError, DownloadError, load_cifar10, load_fashion_mnist,
                   load_mnist, load_mnist_sample, transforms as T)
from .data.checks import check_data_file, check_images, to_float_images
from .layers import Conv2D, Dense, Flatten, MaxPooling2D
from .zoo.catalog import ARCHITECTURES, canonical_name, command_line_names, size_text

# Per data set: where it comes from, its normalisation, and the training recipe.
RECIPES = {
    "mnist-sample": dict(epochs=12, batch_size=64, optimizer="adam", lr=2e-3, schedule="cosine",
                         warmup=0, augment="translate", mean=[0.1307], std=[0.3081]),
    "mnist": dict(epochs=12, batch_size=64, optimizer="adam", lr=2e-3, schedule="cosine",
                  warmup=0, augment="none", mean=[0.1307], std=[0.3081]),
    "fashion-mnist": dict(epochs=15, batch_size=64, optimizer="adam", lr=2e-3, schedule="cosine",
                          warmup=0, augment="flip", mean=[0.2860], std=[0.3530]),
    "cifar10": dict(epochs=30, batch_size=64, optimizer="sgd", lr=0.05, schedule="cosine",
                    warmup=1, augment="crop-flip", mean=[0.4914, 0.4822, 0.4465],
                    std=[0.2470, 0.2435, 0.2616]),
}
DEFAULT_DATASET = "mnist-sample"         # what `minicnn train MODEL` trains on
# Per data set: its images (C, H, W) and where they come from, for --help and the checks.
DATASETS = {
    "mnist-sample": ((1, 28, 28), "5,000 real MNIST digits inside the package (4,000 to train, "
                     "1,000 held out); no download"),
    "mnist": ((1, 28, 28), "full MNIST (60,000 / 10,000) from --data DIR, $MINICNN_DATA or "
              "--download"),
    "fashion-mnist": ((1, 28, 28), "Fashion-MNIST (60,000 / 10,000), found as mnist is"),
    "cifar10": ((3, 32, 32), "CIFAR-10 photos (50,000 / 10,000; --train-batches picks "
                "some), found as mnist is"),
}
CLASS_NAMES = {"cifar10": list(mc.data.CIFAR10_CLASSES),
               "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                 "Shirt", "Sneaker", "Bag", "Boot"]}


def digits_cnn(size=16):
    """A small LeNet-like CNN for generated digits (1, size, size) -> 10 classes."""
    return mc.Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(1, size, size)),
        MaxPooling2D(2), Conv2D(32, 3, padding="same", activation="relu"), MaxPooling2D(2),
        Flatten(), Dense(64, activation="relu"), Dense(10, activation="softmax")])


def model_builders():
    """CLI model names (each architecture's and its aliases: lenet = lenet5, vgg = vgg16,
    resnet = resnet18) -> builder(num_classes, input_shape). Only whole networks: the
    zoo's helpers (basic_block, to_torch_state_dict, ...) are not offered."""
    return {name: ARCHITECTURES[canonical_name(name)].build for name in command_line_names()}


def build_model(name, shape, images):
    """The architecture ``name`` for 10 classes and images ``shape`` (C, H, W); a network
    that does not fit the images says which input size it needs."""
    arch = ARCHITECTURES[canonical_name(name)]
    arch.check_fits(tuple(shape), images)
    return arch.build(num_classes=10, input_shape=tuple(shape))


def recipe_text(recipe):
    """'12 epochs, batch 64, adam lr 0.002, cosine schedule, ...' for --help and `models`."""
    warmup = f" after {recipe['warmup']} warm-up epoch(s)" if recipe["warmup"] else ""
    momentum = " (Nesterov momentum 0.9)" if recipe["optimizer"] == "sgd" else ""
    return (f"{recipe['epochs']} epochs, batch {recipe['batch_size']}, {recipe['optimizer']}"
            f"{momentum} lr "
            f"{recipe['lr']:g}, {recipe['schedule']} schedule{warmup}, augment "
            f"{recipe['augment']}")


def models_text():
    """The architectures the commands build and the data sets they train on, with each
    one's input size and recipe (``minicnn models``, ``minicnn train --help``)."""
    lines = ["architectures (MODEL; other names in brackets):"]
    for arch in ARCHITECTURES.values():
        also = f" ({', '.join(arch.aliases)})" if arch.aliases else ""
        fits = [d for d, (shape, _) in DATASETS.items() if arch.fits(shape)]
        lines += [f"  {arch.name + also:22} {arch.about}",
                  f"  {'':22} {arch.size_text()}; "
                  + (f"trains on: {', '.join(fits)}" if fits else
                     "too large for every data set here (use it from Python on larger images)")]
    lines += ["", "data sets (--dataset) and their recipes (every training option overrides "
              "its part):"]
    for name, (shape, about) in DATASETS.items():
        lines += [f"  {name:22} {size_text(shape)}: {about}",
                  f"  {'':22} recipe: {recipe_text(RECIPES[name])}"]
    return "\n".join(lines)


def load_dataset(name, data=None, download=False, train_batches=(1, 2, 3, 4, 5)):
    """((x_train, y_train), (x_test, y_test)) uint8 NCHW for a CLI data set name."""
    report = lambda text: print(text, file=sys.stderr)
    if name == "mnist-sample":
        return load_mnist_sample()
    if name == "mnist":
        return load_mnist(data, download, report)
    if name == "fashion-mnist":
        return load_fashion_mnist(data, download, report)
    return load_cifar10(data, download, train_batches, report)


def augmentation(name, shape):
    return {"none": None, "translate": T.RandomTranslation(2), "flip": T.RandomHorizontalFlip(),
            "crop-flip": T.Compose([T.RandomCrop(shape[1:], padding=4),
                                    T.RandomHorizontalFlip()])}[name]


def schedule_callback(name, epochs, warmup):
    if name == "none":
        return [] if not warmup else [cb.LearningRateScheduler(cb.step(10**9, 1.0, warmup))]
    if name == "step":
        return [cb.LearningRateScheduler(cb.step(max(epochs // 3, 1), 0.1, warmup))]
    return [cb.LearningRateScheduler(cb.cosine(epochs, warmup=warmup))]


def make_optimizer(name, lr, momentum, weight_decay):
    """The optimiser of a recipe; momentum (Nesterov) is SGD's only, None means 0.9."""
    if name == "sgd":
        momentum = 0.9 if momentum is None else momentum
        return mc.optim.SGD(lr=lr, momentum=momentum, nesterov=momentum > 0,
                            weight_decay=weight_decay)
    if momentum is not None:
        raise ValueError(f"--momentum is an SGD setting, but the optimizer is {name}; leave "
                         f"--momentum out or give --optimizer sgd")
    return mc.optim.OPTIMIZERS[name](lr=lr, weight_decay=weight_decay)


# Fastest first, on CPU arrays (benchmarks/README.md: the numba backend trains LeNet at
# batch 128 3.5x as fast as the numpy reference, benchmarks/throughput.py).
PREFERRED_BACKENDS = ("numba", "numpy")       # cupy (a GPU) only when asked for


def pick_backend(name):
    """The backend to use: the one asked for, else the fastest available one."""
    available = mc.available_backends()
    if name is None:
        name = os.environ.get("MINICNN_BACKEND") or next(
            (b for b in PREFERRED_BACKENDS if b in available), "numpy")
    try:
        mc.set_backend(name)
    except RuntimeError as error:         # known but unusable here: say why, exit status 1
        raise ValueError(f"--backend {name}: {error}") from None
    return name


# ----------------------------------------------------------------------------- commands
def cmd_train(args):
    """minicnn train: a file that cannot be written (a full disk, a read-only --out) or a
    run whose numbers blew up ends with exit status 1 and a message naming the file, the
    reason and the last good checkpoint; nothing good is overwritten."""
    try:
        return _train(args)
    except (SaveError, mc.train.NonFiniteError) as error:
        print(f"minicnn train: {error}", file=sys.stderr)
        return 1


# The recipe's parts an option may set; None on the command line means "not given".
RECIPE_OPTIONS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "warmup", "augment",
                  "momentum", "weight_decay")
# Options that choose the training images; recorded in the checkpoint's metadata.
DATA_OPTIONS = dict(limit=None, seed=0, train_batches=[1, 2, 3, 4, 5])


def _train(args):
    resumed = _resume(args) if args.resume else None
    if resumed is None:                  # before loading the data: a model too large says so
        ARCHITECTURES[canonical_name(args.model)].check_fits(DATASETS[args.dataset][0],
                                                             f"the {args.dataset} images")
        recipe = dict(RECIPES[args.dataset], momentum=None, weight_decay=0.0)
        for key in RECIPE_OPTIONS:
            if getattr(args, key) is not None:
                recipe[key] = getattr(args, key)
        for key, default in DATA_OPTIONS.items():
            if getattr(args, key) is None:
                setattr(args, key, default)
    else:
        model, recipe = resumed
    check_writable_folder(args.out, "--out")         # before any work that could not be saved
    backend = pick_backend(args.backend)
    (x_train, y_train), (x_test, y_test) = load_dataset(args.dataset, args.data, args.download,
                                                        args.train_batches)
    if args.limit:                      # a random subset, for quick trials
        keep = np.random.default_rng(args.seed).permutation(len(x_train))[:args.limit]
        x_train, y_train = x_train[keep], y_train[keep]
    normalize = T.Compose([T.ToFloat(), T.Normalize(recipe["mean"], recipe["std"])])
    x_train, x_test = normalize(x_train), normalize(x_test)
    if resumed is None:
        mc.manual_seed(args.seed)
        model = build_model(args.model, x_train.shape[1:], f"the {args.dataset} images")
        model.compile(optimizer=make_optimizer(recipe["optimizer"], recipe["lr"],
                                               recipe["momentum"], recipe["weight_decay"]),
                      loss="cross_entropy", metrics=["accuracy"])
    model.checkpoint_metadata = {"dataset": args.dataset, "model": args.model,
                                 "mean": recipe["mean"], "std": recipe["std"], "recipe": recipe,
                                 **{key: getattr(args, key) for key in DATA_OPTIONS}}
    print(f"{args.dataset}: {len(x_train)} training and {len(x_test)} held-out images "
          f"{x_train.shape[1:]}; model {args.model} ({model.count_params():,} weights); "
          f"backend {backend}; seed {args.seed}")
    print("recipe: " + ", ".join(f"{k}={v}" for k, v in recipe.items()
                                 if k not in ("mean", "std") and v is not None))
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    callbacks = schedule_callback(recipe["schedule"], recipe["epochs"], recipe["warmup"])
    saver = cb.ModelCheckpoint(checkpoint)
    callbacks += [_EpochTimer(), saver]          # the timer first: the saved logs have 'seconds'
    start = time.perf_counter()
    try:
        history = model.fit(x_train, y_train, epochs=recipe["epochs"],
                            batch_size=recipe["batch_size"], seed=args.seed,
                            validation_data=(x_test, y_test), callbacks=callbacks,
                            transform=augmentation(recipe["augment"], x_train.shape[1:]),
                            resume=True if args.resume else None, verbose=1)
    except KeyboardInterrupt:
        if saver.interrupt_saved:                    # said only once the rename is done
            print(f"\ninterrupted: saved {saver.interrupt_saved}; continue with: minicnn train "
                  f"{args.model} --resume {checkpoint} --out {args.out}"
                  + (f" --data {args.data}" if args.data else ""), file=sys.stderr)
        else:
            print(f"\ninterrupted: nothing was saved; {_last_good(args, saver, checkpoint)}",
                  file=sys.stderr)
        return 130
    except mc.train.NonFiniteError as error:
        if saver.last_saved is None:                 # fit named the last good one otherwise
            error.args = (f"{error}; {_last_good(args, saver, checkpoint)}",)
        raise
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500)
    _write_metrics(args.out, history, {"test_loss": loss, "test_accuracy": accuracy,
                                       "seconds": seconds, "backend": backend,
                                       "dataset": args.dataset, "recipe": recipe})
    print(f"\nheld-out accuracy: {accuracy:.2%} (loss {loss:.4f}) on {len(x_test)} images; "
          f"trained in {seconds:.1f}s")
    print(f"saved {checkpoint}, metrics.csv, metrics.json" +
          (", curves.png" if _plot_curves(args.out, history) else
           " (pip install 'minicnn[plot]' for curves.png)") + f" in {args.out}")
    return 0


def _last_good(args, saver, checkpoint):
    """Which checkpoint holds the last good weights, for a run that stopped badly."""
    if saver.last_saved is not None:
        path, epoch = saver.last_saved
        return f"the last good checkpoint is {path} (after epoch {epoch})"
    if args.resume:
        return f"the last good checkpoint is still {args.resume}"
    if os.path.exists(checkpoint):
        return f"{checkpoint} (from an earlier run) is unchanged"
    return "no checkpoint was saved"


def _resume(args):
    """For --resume: (the checkpoint's model, the recipe of the run it continues).

    The run goes on with its own recipe and data options, read from the checkpoint's
    metadata; an option left out takes the saved value (written into ``args``). An option
    given that differs from the saved run is refused, naming both values, except
    --epochs, which may extend the run (said in a line: it stretches the schedule)."""
    model = mc.load(args.resume)
    meta = model.checkpoint_metadata if isinstance(model.checkpoint_metadata, dict) else {}
    recipe = meta.get("recipe")
    if not isinstance(recipe, dict) or not set(RECIPES[args.dataset]) <= set(recipe):
        raise ValueError(f"{args.resume} does not record the recipe of its run (it was not "
                         f"written by `minicnn train`); load it with mc.load and call "
                         f"model.fit(..., resume=True) in Python instead")
    recipe = dict(recipe)
    recipe.setdefault("momentum", None)
    recipe.setdefault("weight_decay", 0.0)
    conflicts = []
    for option, key, saved in (("model", "model", meta.get("model")),
                               ("--dataset", "dataset", meta.get("dataset"))):
        given, same = getattr(args, key), getattr(args, key) == saved
        if key == "model" and {given, saved} <= set(command_line_names()):
            same = canonical_name(given) == canonical_name(saved)          # lenet = lenet5
        if saved is not None and not same:
            conflicts.append(f"{option} {getattr(args, key)} (the run used {saved})")
    for key in RECIPE_OPTIONS:
        given = getattr(args, key)
        if given is not None and given != recipe.get(key) and key != "epochs":
            conflicts.append(f"--{key.replace('_', '-')} {given} (the run used "
                             f"{recipe.get(key)})")
    for key, default in DATA_OPTIONS.items():
        given = getattr(args, key)
        if key not in meta:                          # not recorded (an older checkpoint)
            setattr(args, key, default if given is None else given)
            continue
        saved = meta[key]
        if given is not None and given != saved:
            conflicts.append(f"--{key.replace('_', '-')} {given} (the run used {saved})")
        setattr(args, key, saved)
    if conflicts:
        raise ValueError(f"--resume {args.resume} continues that run with its own settings, "
                         f"but these options differ from it: {'; '.join(conflicts)}. Leave "
                         f"them out to continue the run, or start a new run without --resume")
    print(f"resuming {args.resume} after epoch {model.checkpoint_epoch}")
    if args.epochs is not None and args.epochs != recipe["epochs"]:
        print(f"--epochs {args.epochs} wins over the run's {recipe['epochs']}: training goes on "
              f"to epoch {args.epochs}, and the learning-rate schedule is stretched to match")
        recipe["epochs"] = args.epochs
    return model, recipe


class _EpochTimer(cb.Callback):
    """Adds 'seconds' (wall time of the epoch) to the logs."""

    def on_epoch_begin(self, epoch):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        logs["seconds"] = time.perf_counter() - getattr(self, "start", time.perf_counter())


def _write_metrics(out, history, summary):
    keys = list(history.history)
    rows = [[epoch + 1] + [history.history[k][i] for k in keys]
            for i, epoch in enumerate(history.epoch)]

    def write_csv(f):
        text = _Text()
        writer = csv.writer(text)
        writer.writerow(["epoch"] + keys)
        writer.writerows(rows)
        f.write("".join(text.parts).encode())
    atomic_write(os.path.join(out, "metrics.csv"), write_csv)
    payload = dict(summary, history=history.history)
    atomic_write(os.path.join(out, "metrics.json"),
                 lambda f: f.write(json.dumps(payload, indent=2).encode()))


class _Text:
    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)


def _plot_curves(out, history):
    """Write curves.png in ``out``; False when matplotlib (the plot extra) is missing."""
    try:
        from .plot import training_curves
        training_curves(history, os.path.join(out, "curves.png"))
    except ImportError as error:
        if "minicnn[plot]" not in str(error):
            raise
        return False
    return True


def _checkpoint_and_data(args):
    pick_backend(args.backend)
    model = mc.load(args.checkpoint, compile=False)
    meta = _metadata(model)
    dataset = args.dataset or meta.get("dataset")
    if dataset is None:
        raise ValueError(f"{args.checkpoint} does not say which data set it was trained on; "
                         f"pass --dataset ({', '.join(sorted(RECIPES))})")
    if dataset not in RECIPES:
        raise ValueError(f"{args.checkpoint} says it was trained on {dataset!r}, which is not a "
                         f"data set minicnn knows; pass --dataset ({', '.join(sorted(RECIPES))})")
    mean, std = _normalization(args.checkpoint, meta, RECIPES[dataset])
    _, (x_test, y_test) = load_dataset(dataset, args.data, args.download, (1,))
    shape = getattr(model, "input_shape", None)
    if shape is not None and tuple(shape) != x_test.shape[1:]:
        trained_on = f" ({meta['dataset']})" if meta.get("dataset") in RECIPES else ""
        raise ValueError(f"{args.checkpoint}: the model takes images {tuple(shape)} but the "
                         f"{dataset} test images are {x_test.shape[1:]}; pass the --dataset it "
                         f"was trained on{trained_on}")
    x_test = T.Compose([T.ToFloat(), T.Normalize(mean, std)])(x_test)
    return model, dataset, x_test, y_test


def _metadata(model):
    """The checkpoint's metadata dict ({} when it has none or it is not a dict)."""
    meta = getattr(model, "checkpoint_metadata", None)
    return meta if isinstance(meta, dict) else {}


def _normalization(checkpoint, meta, defaults=None):
    """(mean, std) lists from the checkpoint's metadata (else ``defaults``), checked: the
    file is data, so a mean that is not a list of numbers is an error naming it."""
    if defaults is None and "mean" not in meta and "std" not in meta:
        return None, None
    mean = meta.get("mean", (defaults or {}).get("mean"))
    std = meta.get("std", (defaults or {}).get("std"))
    for name, value in (("mean", mean), ("std", std)):
        if not (isinstance(value, list) and value and
                all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                    for v in value)):
            raise ValueError(f"{checkpoint}: its metadata's {name} must be a list of numbers "
                             f"(one per channel), got {value!r}")
    if len(mean) != len(std) or min(std) <= 0:
        raise ValueError(f"{checkpoint}: its metadata's mean {mean} and std {std} must have "
                         f"one value per channel each, std > 0")
    return mean, std


def cmd_evaluate(args):
    model, dataset, x, y = _checkpoint_and_data(args)
    outputs = model.predict(x, batch_size=500)
    if outputs.ndim != 2 or outputs.shape[1] != 10:
        raise ValueError(f"{args.checkpoint}: the model's outputs are {outputs.shape[1:]} per "
                         f"image, but {dataset} has 10 classes: evaluate needs a model with 10 "
                         f"outputs")
    predicted = outputs.argmax(axis=1)
    names = CLASS_NAMES.get(dataset, [str(d) for d in range(10)])
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (y, predicted), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    print(f"{dataset} test set: {len(y)} images; accuracy {np.mean(predicted == y):.2%}\n")
    print("per-class accuracy:")
    for name, value, count in zip(names, per_class, confusion.sum(axis=1)):
        print(f"  {name:<12} {value:7.2%}  ({count} images)")
    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print("      " + " ".join(f"{i:>5}" for i in range(10)))
    for i, row in enumerate(confusion):
        print(f"  {i:>2}  " + " ".join(f"{v:>5}" for v in row))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        report = {"dataset": dataset, "accuracy": float(np.mean(predicted == y)),
                  "per_class_accuracy": dict(zip(names, per_class.tolist())),
                  "confusion_matrix": confusion.tolist()}
        atomic_write(os.path.join(args.out, "evaluation.json"),
                     lambda f: f.write(json.dumps(report, indent=2).encode()))
        try:
            from .plot import confusion_matrix
            confusion_matrix(y, predicted, os.path.join(args.out, "confusion.png"), names,
                             title=f"{dataset}: confusion matrix")
            pictures = " and confusion.png"
        except ImportError as error:
            if "minicnn[plot]" not in str(error):
                raise
            pictures = " (pip install 'minicnn[plot]' for confusion.png)"
        print(f"\nwrote evaluation.json{pictures} in {args.out}")
    return 0


def cmd_predict(args):
    if args.input:
        pick_backend(args.backend)
        model = mc.load(args.checkpoint, compile=False)
        x = _read_input_images(args.input, getattr(model, "input_shape", None))
        mean, std = _normalization(args.checkpoint, _metadata(model))
        if mean is not None:
            x = T.Normalize(mean, std)(x)
        labels = None
    else:
        model, _, x, labels = _checkpoint_and_data(args)
        x, labels = x[:args.count], labels[:args.count]
    probs = mc.functional.softmax(mc.Tensor(model.predict(x)), axis=-1).data
    for i, p in enumerate(probs):
        truth = "" if labels is None else f"  (true: {labels[i]})"
        print(f"{i:>4}: class {int(p.argmax())}  probability {p.max():.3f}{truth}")
    return 0


def _read_input_images(path, shape=None):
    """The images of ``predict --input``, as float (N, C, H, W) for a model taking ``shape``
    (C, H, W): a .npy file of (N, C, H, W), (N, H, W) or (H, W) images (the last two for
    one channel), or one (C, H, W) image. uint8 pixels are scaled by 1/255, floats are
    used as they are, other dtypes are refused (the rule of fit and predict)."""
    where = f"--input {path}"
    check_data_file(path, "a .npy file of images")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as error:
        raise ValueError(f"{where}: not a .npy file of numbers ({error}); save the images with "
                         f"np.save('images.npy', x)") from None
    if not isinstance(x, np.ndarray):                     # an .npz archive
        names = list(x.files)
        x.close()
        raise ValueError(f"{where} is an .npz archive (arrays: {', '.join(names) or 'none'}); "
                         f"--input takes one .npy file of images: np.save('images.npy', "
                         f"archive[{(names or ['...'])[0]!r}])")
    layouts = "(N, C, H, W), (N, H, W) or (H, W)"
    if x.ndim < 2 or x.ndim > 4:
        what = "a single number" if x.ndim == 0 else f"an array of shape {x.shape}"
        raise ValueError(f"{where} holds {what}, not images: give {layouts}")
    x = check_images(x, where, verb="save")
    if shape is not None and len(shape) == 3:
        x = _as_model_batch(x, tuple(shape), where)
    elif x.ndim < 4:
        x = x[None, None] if x.ndim == 2 else x[:, None]
    if len(x) == 0:
        raise ValueError(f"{where} holds no images (shape {x.shape})")
    x = to_float_images(x)
    if not np.isfinite(x).all():
        raise ValueError(f"{where} holds NaN or infinite values; give finite pixels")
    return x


def _as_model_batch(x, shape, where):
    """x (4-D, 3-D or 2-D) as (N, C, H, W) for a model taking (C, H, W) = ``shape``."""
    c, h, w = shape
    if x.ndim == 4 and x.shape[1:] == shape:
        return x
    if x.ndim == 3 and x.shape == shape:
        return x[None]                                    # one (C, H, W) image
    if c == 1 and x.ndim == 3 and x.shape[1:] == (h, w):
        return x[:, None]                                 # (N, H, W)
    if c == 1 and x.ndim == 2 and x.shape == (h, w):
        return x[None, None]                              # one (H, W) image
    forms = f"(N, {c}, {h}, {w})" + (f", (N, {h}, {w}) or ({h}, {w})" if c == 1 else
                                     f" or ({c}, {h}, {w})")
    hint = ""
    if x.ndim >= 3 and x.shape[-3:] == (h, w, c) and c > 1:
        hint = "; it looks channels-last: minicnn takes (N, C, H, W), np.moveaxis(x, -1, -3)"
    raise ValueError(f"{where} holds an array of shape {x.shape}, but the model takes images "
                     f"{shape}: give {forms}{hint}")


def cmd_summary(args):
    """The model ``minicnn train MODEL --dataset D`` builds (or for --input-shape)."""
    shape, images = DATASETS[args.dataset][0], f"the {args.dataset} images"
    if args.input_shape:
        shape, images = _shape_option(args.input_shape), f"--input-shape {args.input_shape}"
    build_model(args.model, shape, images).summary(batch_size=args.batch_size)
    return 0


def cmd_models(args):
    print(models_text())
    return 0


def _shape_option(text):
    """--input-shape C,H,W -> (C, H, W)."""
    try:
        shape = tuple(int(n) for n in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"--input-shape must be C,H,W (three positive integers, e.g. 1,28,28), "
                         f"got {text!r}")
    return shape


def explain_builders():
    """The names ``minicnn explain`` builds a model for (model_builders())."""
    return model_builders()


def cmd_explain(args):
    """Per layer: shapes, params, MACs, memory, im2col, times; then one training step.
    With --step: one op's forward and backward on a tiny input (minicnn.stepthrough, the
    worked examples of the docs' op pages)."""
    if args.step:
        if args.model:
            raise ValueError(f"--step {args.step} shows one op on its own tiny input; give "
                             f"either a MODEL or --step, not both")
        from .stepthrough import step_through
        step_through(args.step)
        return 0
    if not args.model:
        raise ValueError("give a MODEL to explain (e.g. lenet) or --step OP "
                         "(e.g. --step conv2d)")
    backend = pick_backend(args.backend)
    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    shape = _shape_option(args.input_shape) if args.input_shape else None
    images = labels = None
    if args.dataset:                 # the same data as `minicnn train --dataset` (its test set)
        _, (images, labels) = load_dataset(args.dataset, args.data, args.download, (1,))
    builders = explain_builders()
    note = ""
    if args.model in builders:
        if shape is not None:
            what = f"--input-shape {args.input_shape}"
        elif images is not None:
            shape, what = images.shape[1:], f"the {args.dataset} images"
        else:                        # as `minicnn train MODEL` builds it, if it fits its data
            arch = ARCHITECTURES[canonical_name(args.model)]
            shape, what = DATASETS[DEFAULT_DATASET][0], f"the {DEFAULT_DATASET} images"
            note = f" ({size_text(shape)}, as `minicnn train {args.model}` builds it)"
            if not arch.fits(shape):
                shape = arch.designed_for
                note = (f" ({size_text(shape)}, {arch.name}'s own input: it needs at least "
                        f"{arch.min_size}x{arch.min_size})")
        model, meta = build_model(args.model, shape, what), {}
    elif os.path.isfile(args.model):
        model = mc.load(args.model, compile=False)
        meta = model.checkpoint_metadata or {}
    elif args.model.endswith(".npz") or os.sep in args.model:
        raise FileNotFoundError(f"no checkpoint file {args.model!r}")
    else:
        raise ValueError(f"unknown model {args.model!r}: give one of {', '.join(builders)}, "
                         f"or the path of a checkpoint (.npz) written by mc.save or minicnn train")
    rng = np.random.default_rng(args.seed)
    if images is not None:
        pick = rng.choice(len(images), size=min(args.batch, len(images)), replace=False)
        stats = RECIPES[args.dataset]
        normalize = T.Compose([T.ToFloat(), T.Normalize(meta.get("mean", stats["mean"]),
                                                        meta.get("std", stats["std"]))])
        x, y = normalize(images[pick]), labels[pick]
        source = f"{len(pick)} {args.dataset} images" + (
            " from the embedded sample" if args.dataset == "mnist-sample" else "")
    else:
        shape = shape or getattr(model, "input_shape", None)
        if shape is None or not all(isinstance(n, int) for n in shape):
            raise ValueError(f"the input shape of {args.model!r} is not known: pass "
                             f"--input-shape C,H,W")
        x, y = rng.standard_normal((args.batch,) + tuple(shape)).astype(np.float32), None
        source = f"random normal input{note}, seed {args.seed}"
    from .explain import explain
    result = explain(model, x, y, train_step=not args.no_train_step, lr=args.lr,
                     warmup=args.warmup, repeats=args.repeats, seed=args.seed,
                     input_source=source)
    print(result.to_text())
    if args.json:
        payload = dict(result.to_dict(), model_argument=args.model, backend=backend)
        atomic_write(args.json, lambda f: f.write(json.dumps(payload, indent=2).encode()))
        print(f"\nwrote {args.json}")
    return 0


def cmd_datasets(args):
    print("\n".join(mc.data.describe_datasets(args.data)))
    return 0


# ----------------------------------------------------------------------------- plot
def cmd_plot(args):
    """minicnn plot WHAT ...: draw one picture (minicnn.plot), write it, say where."""
    try:
        from . import plot
        path, note = args.draw(args, plot)
    except ImportError as error:
        if "minicnn[plot]" not in str(error):
            raise
        print(f"minicnn plot: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}{note}")
    return 0


def _beside(path, name):
    """``name`` in the folder of ``path`` (a file) or in ``path`` (a folder)."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, name)


def _plot_curves_command(args, plot):
    history = plot.read_history(args.metrics)
    out = args.out or _beside(args.metrics, "curves.png")
    epochs = len(history.epoch)
    return (plot.training_curves(history, out, title=args.title),
            f" ({epochs} epoch{'s' if epochs != 1 else ''})")


def _plot_filters_command(args, plot):
    model = mc.load(args.checkpoint, compile=False)
    out = args.out or _beside(args.checkpoint, "filters.png")
    return plot.filters(model, out, layer=args.layer, mode=args.mode,
                        max_filters=args.max_filters), ""


def _plot_features_command(args, plot):
    model, dataset, x, y = _checkpoint_and_data(args)
    if not -len(x) <= args.index < len(x):
        raise ValueError(f"--index {args.index} is out of range: the {dataset} test set has "
                         f"{len(x)} images (0 to {len(x) - 1})")
    out = args.out or _beside(args.checkpoint, f"features-{args.index}.png")
    return (plot.feature_maps(model, x[args.index], out),
            f" ({dataset} test image {args.index}, class {y[args.index]})")


def _plot_confusion_command(args, plot):
    model, dataset, x, y = _checkpoint_and_data(args)
    predicted = model.predict(x, batch_size=500).argmax(axis=1)
    out = args.out or _beside(args.checkpoint, "confusion.png")
    names = CLASS_NAMES.get(dataset, [str(d) for d in range(10)])
    plot.confusion_matrix(y, predicted, out, names, title=f"{dataset}: confusion matrix")
    return out, f" (accuracy {np.mean(predicted == y):.2%} on {len(y)} {dataset} test images)"


def _plot_misclassified_command(args, plot):
    model, dataset, x, y = _checkpoint_and_data(args)
    out = args.out or _beside(args.checkpoint, "misclassified.png")
    outputs = model.predict(x, batch_size=500)
    wrong = plot.find_misclassified(model, x, y, outputs=outputs)[0]
    plot.misclassified(model, x, y, out, CLASS_NAMES.get(dataset), max_images=args.count,
                       outputs=outputs)
    return out, f" ({len(wrong)} of {len(y)} {dataset} test images misclassified)"


def _plot_im2col_command(args, plot):
    out = args.out or os.path.abspath("im2col.png")      # no run folder: the current one
    return plot.im2col_unrolling(out, args.input_shape, args.kernel_size, args.stride,
                                 args.padding), ""


def _positive_int(text):
    """argparse type of --count and --limit: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _finite_float(text):
    """argparse type of --lr, --momentum, --weight-decay: a finite number (not nan/inf)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _ints(text):
    """'1,4,4' -> (1, 4, 4); '2' -> 2."""
    values = tuple(int(v) for v in text.split(","))
    return values[0] if len(values) == 1 else values


# ----------------------------------------------------------------------------- parser
def build_parser():
    parser = argparse.ArgumentParser(prog="minicnn", description="Train, evaluate and inspect "
                                     "CNNs written in readable NumPy.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    models = list(model_builders())
    model_help = ("architecture: " + ", ".join(models) + " (lenet = lenet5, vgg = vgg16, resnet "
                  "= resnet18; each one's input size: `minicnn models`)")

    def data_options(p, dataset_default=None):
        p.add_argument("--dataset", choices=sorted(RECIPES), default=dataset_default,
                       help="data set (default: %(default)s)")
        p.add_argument("--data", metavar="DIR", help="folder with the data files (default: "
                       "$MINICNN_DATA, then ~/.cache/minicnn)")
        p.add_argument("--download", action="store_true", help="fetch missing files")
        p.add_argument("--backend", help="numpy, numba or cupy (an NVIDIA GPU; needs the gpu "
                       "extra); default: the fastest CPU backend available")

    p = commands.add_parser("train", help="train a model and save a checkpoint",
                            description="Train MODEL on --dataset with that data set's recipe "
                            "(each option below overrides its part) and save a checkpoint.",
                            epilog=models_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=models, metavar="MODEL", help=model_help)
    data_options(p, "mnist-sample")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--optimizer", choices=sorted(mc.optim.OPTIMIZERS))
    p.add_argument("--lr", type=_finite_float, help="base learning rate")
    p.add_argument("--momentum", type=_finite_float, help="SGD momentum, Nesterov "
                   "(default: 0.9; SGD only)")
    p.add_argument("--weight-decay", type=_finite_float, dest="weight_decay",
                   help="L2 weight decay (default: 0)")
    p.add_argument("--schedule", choices=["cosine", "step", "none"])
    p.add_argument("--warmup", type=int, help="epochs of linear learning-rate warm-up")
    p.add_argument("--augment", choices=["none", "translate", "flip", "crop-flip"])
    p.add_argument("--train-batches", type=lambda s: [int(b) for b in s.split(",")],
                   dest="train_batches",
                   help="CIFAR-10 training batches, e.g. 1 or 1,2,3,4,5 (default: all)")
    p.add_argument("--limit", type=_positive_int, help="train on a random subset of this many "
                   "images")
    p.add_argument("--seed", type=int, help="weights, subset and batch order (default: 0)")
    p.add_argument("--out", default="runs/latest", help="output folder (default: %(default)s)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue an interrupted run with "
                   "its own recipe and data (options that differ from it are refused, but "
                   "--epochs may extend it)")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("evaluate", help="accuracy, per-class accuracy, confusion matrix")
    p.add_argument("checkpoint")
    data_options(p)
    p.add_argument("--out", help="also write evaluation.json (and confusion.png with matplotlib)")
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("predict", help="class and probability for images")
    p.add_argument("checkpoint")
    data_options(p)
    p.add_argument("--input", help="a .npy file of images (N, C, H, W), (N, H, W) or (H, W)")
    p.add_argument("--count", type=_positive_int, default=10, help="test images to predict "
                   "(default: %(default)s)")
    p.set_defaults(run=cmd_predict)

    p = commands.add_parser("summary", help="print a model's layers and weights",
                            description="The layers and weights of the model that `minicnn "
                            "train MODEL --dataset D` builds.")
    p.add_argument("model", choices=models, metavar="MODEL", help=model_help)
    p.add_argument("--dataset", choices=sorted(RECIPES), default=DEFAULT_DATASET,
                   help="build the model for these images (default: %(default)s)")
    p.add_argument("--input-shape", help="C,H,W (default: from --dataset)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="also estimate each layer's memory, and a training step's, for a "
                        "batch of this size")
    p.set_defaults(run=cmd_summary)

    p = commands.add_parser("explain", help="each layer's shapes, cost and times, and what "
                            "one training step does inside it")
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help=f"a model name ({', '.join(explain_builders())}) "
                   "or a checkpoint .npz written by mc.save / minicnn train")
    from .stepthrough import STEPS
    p.add_argument("--step", choices=STEPS, metavar="OP", help="instead of a model: print one "
                   "op's forward and backward on a tiny input with the actual numbers, as in "
                   f"the docs' worked examples ({', '.join(STEPS)})")
    p.add_argument("--batch", type=int, default=8, help="samples in the batch (default: %(default)s)")
    p.add_argument("--input-shape", dest="input_shape", help="C,H,W (default: a checkpoint's "
                   "own; for a model name, the images `minicnn train MODEL` trains on, "
                   f"{DEFAULT_DATASET}'s 1,28,28, or the model's own size if it needs more)")
    p.add_argument("--dataset", choices=sorted(RECIPES), help="real images and labels instead "
                   "of random input, from the data set's test images (as for `minicnn train`: "
                   "mnist is full MNIST, mnist-sample the embedded sample)")
    p.add_argument("--data", metavar="DIR", help="folder with the data files")
    p.add_argument("--download", action="store_true", help="fetch missing files")
    p.add_argument("--backend", help="numpy, numba or cupy (an NVIDIA GPU; needs the gpu "
                   "extra); default: the fastest CPU backend available")
    p.add_argument("--no-train-step", action="store_true", dest="no_train_step",
                   help="only shapes, costs and times; skip the training step's statistics")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate of the step "
                   "(default: %(default)s)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed passes first (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="for the input, the batch and the labels")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    p.set_defaults(run=cmd_explain)

    p = commands.add_parser("models", help="the architectures: each one's input size, the "
                            "data sets it fits, and each data set's recipe")
    p.set_defaults(run=cmd_models)

    p = commands.add_parser("datasets", help="where each data set is found")
    p.add_argument("--data", metavar="DIR")
    p.set_defaults(run=cmd_datasets)

    p = commands.add_parser("plot", help="draw a picture (PNG): curves, filters, features, "
                            "confusion, misclassified, im2col")
    pictures = p.add_subparsers(dest="picture", metavar="PICTURE", required=True)

    def picture(name, draw, help, default):
        q = pictures.add_parser(name, help=help, description=help)
        q.add_argument("--out", metavar="PATH", help=f"the picture to write (default: {default})")
        q.set_defaults(run=cmd_plot, draw=draw)
        return q
    q = picture("curves", _plot_curves_command, "loss and accuracy per epoch, training and "
                "validation", "curves.png beside the metrics")
    q.add_argument("metrics", metavar="RUN_DIR_OR_METRICS_CSV",
                   help="the --out folder of `minicnn train`, or its metrics.csv / metrics.json")
    q.add_argument("--title", help="a heading above the curves")
    q = picture("filters", _plot_filters_command, "the learned kernels of a Conv2D layer",
                "filters.png beside the checkpoint")
    q.add_argument("checkpoint")
    q.add_argument("--layer", help="a Conv2D layer's name (default: the first Conv2D layer)")
    q.add_argument("--mode", choices=["channels", "rgb"],
                   help="one panel per (filter, input channel) on a diverging scale, or one RGB "
                   "panel per filter (default: rgb for 3 input channels, else channels)")
    q.add_argument("--max-filters", type=int, default=64, dest="max_filters")
    q = picture("features", _plot_features_command, "every conv layer's output for one test "
                "image", "features-INDEX.png beside the checkpoint")
    q.add_argument("checkpoint")
    data_options(q)
    q.add_argument("--index", type=int, default=0, help="which test image (default: 0)")
    q = picture("confusion", _plot_confusion_command, "the confusion matrix on the test set",
                "confusion.png beside the checkpoint")
    q.add_argument("checkpoint")
    data_options(q)
    q = picture("misclassified", _plot_misclassified_command, "the test images the model gets "
                "wrong, most confident first", "misclassified.png beside the checkpoint")
    q.add_argument("checkpoint")
    data_options(q)
    q.add_argument("--count", type=_positive_int, default=16, help="images to show (default: 16)")
    q = picture("im2col", _plot_im2col_command, "how im2col unrolls a small input into the "
                "columns conv2d multiplies", "im2col.png in the current folder")
    q.add_argument("--input-shape", type=_ints, default=(1, 4, 4), dest="input_shape",
                   metavar="C,H,W", help="(default: 1,4,4)")
    q.add_argument("--kernel-size", type=_ints, default=2, dest="kernel_size", metavar="K",
                   help="K or KH,KW (default: 2)")
    q.add_argument("--stride", type=_ints, default=1, metavar="S", help="(default: 1)")
    q.add_argument("--padding", type=_ints, default=0, metavar="P", help="(default: 0)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (DatasetNotFoundError, DownloadError, FileNotFoundError, ValueError,
            mc.NonFiniteLossError) as error:
        print(f"minicnn {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
