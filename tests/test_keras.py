"""minicnn.keras against real Keras 3 (on the torch backend): the notebook cells of
docs/tutorials/keras.md (LeNet, AlexNet, VGG-16, GoogLeNet) run verbatim in both, only their import lines changed, and the two agree on summaries'
shapes and counts, on outputs with Keras' weights transplanted (get_weights /
set_weights), and on one optimiser step (SGD with momentum, Adam, RMSprop) and the
moving statistics of BatchNormalization after it.

Keras is imported once, here (it is slow to import); tests/conftest.py fails the run
when it is missing, as for torch.
"""
import contextlib
import io
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minicnn.keras as mkeras  # noqa: E402

# -- the seed notebooks' cells (docs/tutorials/keras.md shows them)
LENET = '''
import keras
from keras import layers

keras.backend.clear_session()
model = keras.Sequential()
model.add(layers.Conv2D(filters=6, kernel_size=(5,5), strides=(1,1), activation="relu", input_shape=(32,32,3)))
model.add(layers.MaxPooling2D(pool_size=(2,2), strides=(2,2)))
model.add(layers.Conv2D(filters=16, kernel_size=(5,5), strides=(1,1), activation="relu"))
model.add(layers.MaxPooling2D(pool_size=(2,2), strides=(2,2)))
model.add(layers.Flatten())
model.add(layers.Dense(units=120, activation="relu"))
model.add(layers.Dense(units=84, activation="relu"))
model.add(layers.Dense(units=10, activation="softmax"))
model.summary()
'''

ALEXNET = '''
import keras
from keras.models import Sequential
from keras.layers import Conv2D, MaxPooling2D, Flatten, Dense
from keras.optimizers import SGD

keras.backend.clear_session()
model = Sequential([
    Conv2D(64, (11, 11), strides=4, padding='valid', activation='relu',
           input_shape=(224, 224, 3)),
    MaxPooling2D((3, 3), strides=2),
    Conv2D(192, (5, 5), padding='same', activation='relu'),
    MaxPooling2D((3, 3), strides=2),
    Conv2D(384, (3, 3), padding='same', activation='relu'),
    Conv2D(256, (3, 3), padding='same', activation='relu'),
    MaxPooling2D((3, 3), strides=2),
    Flatten(),
    Dense(4096, activation='relu'),
    Dense(4096, activation='relu'),
    Dense(1000, activation='softmax'),
])
model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
              loss='categorical_crossentropy', metrics=['accuracy'])
model.summary()
'''

VGG16 = '''
import keras
from keras.models import Sequential
from keras.layers import Conv2D, MaxPooling2D, Flatten, Dense, Dropout

keras.backend.clear_session()
model = Sequential()
model.add(Conv2D(64, (3, 3), padding='same', activation='relu', input_shape=(224, 224, 3)))
model.add(Conv2D(64, (3, 3), padding='same', activation='relu'))
model.add(MaxPooling2D((2, 2), strides=(2, 2)))
for filters, convs in [(128, 2), (256, 3), (512, 3), (512, 3)]:
    for _ in range(convs):
        model.add(Conv2D(filters, (3, 3), padding='same', activation='relu'))
    model.add(MaxPooling2D((2, 2), strides=(2, 2)))
model.add(Flatten())
model.add(Dense(4096, activation='relu'))
model.add(Dropout(0.5))
model.add(Dense(4096, activation='relu'))
model.add(Dropout(0.5))
model.add(Dense(1000, activation='softmax'))
model.summary()
'''

GOOGLENET = '''
import keras
from keras import layers
from keras.models import Model

def inception(x, f1, f3_reduce, f3, f5_reduce, f5, pool_proj):
    branch1 = layers.Conv2D(f1, (1, 1), padding='same', activation='relu')(x)
    branch3 = layers.Conv2D(f3_reduce, (1, 1), padding='same', activation='relu')(x)
    branch3 = layers.Conv2D(f3, (3, 3), padding='same', activation='relu')(branch3)
    branch5 = layers.Conv2D(f5_reduce, (1, 1), padding='same', activation='relu')(x)
    branch5 = layers.Conv2D(f5, (5, 5), padding='same', activation='relu')(branch5)
    pool = layers.MaxPooling2D((3, 3), strides=(1, 1), padding='same')(x)
    pool = layers.Conv2D(pool_proj, (1, 1), padding='same', activation='relu')(pool)
    return layers.concatenate([branch1, branch3, branch5, pool], axis=-1)

keras.backend.clear_session()
inputs = layers.Input(shape=(224, 224, 3))
x = layers.Conv2D(64, (7, 7), strides=(2, 2), padding='same', activation='relu')(inputs)
x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding='same')(x)
x = layers.Conv2D(64, (1, 1), padding='same', activation='relu')(x)
x = layers.Conv2D(192, (3, 3), padding='same', activation='relu')(x)
x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding='same')(x)
x = inception(x, 64, 96, 128, 16, 32, 32)        # 3a
x = inception(x, 128, 128, 192, 32, 96, 64)      # 3b
x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding='same')(x)
x = inception(x, 192, 96, 208, 16, 48, 64)       # 4a
x = inception(x, 160, 112, 224, 24, 64, 64)      # 4b
x = inception(x, 128, 128, 256, 24, 64, 64)      # 4c
x = inception(x, 112, 144, 288, 32, 64, 64)      # 4d
x = inception(x, 256, 160, 320, 32, 128, 128)    # 4e
x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding='same')(x)
x = inception(x, 256, 160, 320, 32, 128, 128)    # 5a
x = inception(x, 384, 192, 384, 48, 128, 128)    # 5b
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dropout(0.4)(x)
outputs = layers.Dense(1000, activation='softmax')(x)
model = Model(inputs, outputs, name='googlenet')
model.summary()
'''

# what the issue found refused or silently different, in Keras' own spelling
KERAS_ONLY = '''
import keras
from keras import layers

keras.backend.clear_session()
model = keras.Sequential([
    keras.Input(shape=(16, 16, 3)),
    layers.Conv2D(8, 3, padding="same", activation="elu", data_format="channels_last"),
    layers.BatchNormalization(axis=-1),
    layers.MaxPooling2D((2, 2), (2, 2), 'valid', 'channels_last'),
    layers.Conv2D(8, 3, activation="gelu"),
    layers.Flatten(),
    layers.Dropout(0.5, None, 42),
    layers.Dense(5, activation="softmax"),
])
model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
'''


def to_minicnn_imports(cell):
    """The one edit a user makes: each import line names minicnn.keras instead of keras."""
    lines = []
    for line in cell.splitlines():
        if line.startswith("import keras"):
            line = line.replace("import keras", "import minicnn.keras as keras", 1)
        elif line.startswith("from keras"):
            line = line.replace("from keras", "from minicnn.keras", 1)
        lines.append(line)
    return "\n".join(lines)


def run_cell(cell, mine):
    """Run a cell as it is (Keras) or with its imports changed (minicnn); its namespace
    and what it printed."""
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(to_minicnn_imports(cell) if mine else cell, "<cell>", "exec"), namespace)
    return namespace, out.getvalue()


@pytest.fixture(scope="module")
def lenet_pair():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # Keras 3 advises Input over input_shape=
        theirs, _ = run_cell(LENET, mine=False)
    ours, printed = run_cell(LENET, mine=True)
    return theirs["model"], ours["model"], printed


def layer_table(model, mine):
    """(name, Keras' output shape, parameter count) of every layer."""
    return [(layer.name, tuple(layer.output_shape if mine else layer.output.shape),
             layer.count_params()) for layer in model.layers]


def transplant(theirs, ours):
    ours.set_weights(theirs.get_weights())
    for a, b in zip(theirs.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)          # Keras' layouts, both ways


def images(shape, n=4, seed=0):
    return np.random.default_rng(seed).random((n,) + shape, dtype=np.float32)


def test_lenet_seed_cell_summary_weights_and_outputs_agree(lenet_pair):
    theirs, ours, printed = lenet_pair
    assert layer_table(ours, True) == layer_table(theirs, False)
    assert layer_table(ours, True)[0][1] == (None, 28, 28, 6)
    assert ours.count_params() == theirs.count_params() == 62_006
    assert "(None, 28, 28, 6)" in printed and "62,006" in printed
    assert ours.input_shape == theirs.input_shape == (None, 32, 32, 3)
    transplant(theirs, ours)
    x = images((32, 32, 3))                          # NHWC, as the notebook has it
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def one_step(theirs, ours, optimizer_pair, x, y, loss="sparse_categorical_crossentropy"):
    """Keras' weights in both, one fit step with each's optimiser; both weight lists."""
    transplant(theirs, ours)
    theirs.compile(optimizer=optimizer_pair[0], loss=loss)
    ours.compile(optimizer=optimizer_pair[1], loss=loss)
    theirs.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return theirs.get_weights(), ours.get_weights()


def assert_steps_agree(before, after_theirs, after_ours, lr):
    """The updates agree to float32 rounding of the gradients: within 1e-2 of a step of
    size lr, where a weight moved. (Adam and RMSprop divide by sqrt(v): where a gradient is
    near 0, the order the frameworks add its terms in moves the step by a few 1e-3 lr (seen:
    3.4e-3 lr on 1 of 450 weights); the epsilon rules this tells apart differ by up to
    0.9 lr.)"""
    for w0, wt, wo in zip(before, after_theirs, after_ours):
        assert not np.array_equal(w0, wt)
        np.testing.assert_allclose(wo - w0, wt - w0, rtol=0, atol=lr * 1e-2)


@pytest.mark.parametrize("name", ["sgd_momentum", "adam", "rmsprop"])
def test_one_optimiser_step_follows_keras_rule(lenet_pair, name):
    theirs, ours, _ = lenet_pair
    make = {"sgd_momentum": lambda k: k.optimizers.SGD(learning_rate=0.05, momentum=0.9),
            "adam": lambda k: k.optimizers.Adam(learning_rate=1e-3),
            "rmsprop": lambda k: k.optimizers.RMSprop(learning_rate=1e-3)}[name]
    x, y = images((32, 32, 3), n=8, seed=1), np.arange(8) % 10
    before = theirs.get_weights()
    after_theirs, after_ours = one_step(theirs, ours, (make(keras), make(mkeras)), x, y)
    lr = {"sgd_momentum": 0.05, "adam": 1e-3, "rmsprop": 1e-3}[name]
    assert_steps_agree(before, after_theirs, after_ours, lr)


def test_compile_names_mean_keras_optimisers(lenet_pair):
    _, ours, _ = lenet_pair
    for name, cls in (("adam", mkeras.optimizers.Adam), ("rmsprop", mkeras.optimizers.RMSprop),
                      ("sgd", mkeras.optimizers.SGD), ("adagrad", mkeras.optimizers.Adagrad)):
        ours.compile(optimizer=name, loss="sparse_categorical_crossentropy")
        reference = keras.optimizers.get(name)
        assert type(ours.optimizer) is cls
        assert ours.optimizer.learning_rate == pytest.approx(float(reference.learning_rate))
        assert getattr(ours.optimizer, "epsilon", 1e-7) == getattr(reference, "epsilon", 1e-7)


def test_keras_only_spellings_run_and_batch_norm_statistics_agree():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = run_cell(KERAS_ONLY, mine=False)[0]["model"]
    ours = run_cell(KERAS_ONLY, mine=True)[0]["model"]
    assert layer_table(ours, True) == layer_table(theirs, False)
    transplant(theirs, ours)
    x, y = images((16, 16, 3), n=6, seed=2), np.arange(6) % 5
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    theirs.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0)   # the cell's rmsprop
    ours.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0)
    bn_theirs, bn_ours = theirs.layers[1], ours.layers[1]
    moved = 0
    for a, b in zip(bn_theirs.get_weights()[2:], bn_ours.get_weights()[2:]):  # moving mean, var
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        moved += not np.allclose(a, [0.0] * len(a)) and not np.allclose(a, [1.0] * len(a))
    assert moved == 2
    # (the weights after the step differ by the Dropout masks, which the two draw from
    # different generators; the steps themselves are compared without Dropout above)


def test_alexnet_seed_cell_agrees_and_trains_one_step():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = run_cell(ALEXNET, mine=False)[0]["model"]
    ours, printed = run_cell(ALEXNET, mine=True)
    ours = ours["model"]
    assert layer_table(ours, True) == layer_table(theirs, False)
    assert ours.count_params() == theirs.count_params()
    assert "(None, 54, 54, 64)" in printed
    transplant(theirs, ours)
    x = images((224, 224, 3), n=2, seed=3)
    one_hot = mkeras.utils.to_categorical([3, 7], 1000)
    np.testing.assert_array_equal(one_hot, keras.utils.to_categorical([3, 7], 1000))
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-7)
    before = theirs.get_weights()
    theirs.fit(x, one_hot, batch_size=2, epochs=1, shuffle=False, verbose=0)  # the cell's SGD
    ours.fit(x, one_hot, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for w0, wt, wo in zip(before, theirs.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(wo - w0, wt - w0, rtol=0, atol=0.01 * 2e-3)


@pytest.mark.parametrize("cell", ["VGG16", "GOOGLENET"])
def test_vgg_and_googlenet_cells_agree(cell):
    """Layer by layer (a functional model's layers in Keras' order), counts, weights
    transplanted in Keras' order, and the prediction for one 224x224 image."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = run_cell(globals()[cell], mine=False)[0]["model"]
    ours, printed = run_cell(globals()[cell], mine=True)
    ours = ours["model"]
    assert layer_table(ours, True) == layer_table(theirs, False)
    assert ours.count_params() == theirs.count_params()
    rows = [line.split(" ")[0] for line in printed.splitlines()
            if " (" in line and not line.startswith("Layer (type)")]
    assert rows[:len(theirs.layers)] == [layer.name for layer in theirs.layers]
    transplant(theirs, ours)
    x = images((224, 224, 3), n=1, seed=7)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-7)


def test_the_tutorial_shows_these_cells():
    """docs/tutorials/keras.md shows each cell above with its imports changed, so what
    the page says runs in both is what this file runs."""
    from pathlib import Path
    page = (Path(__file__).parents[1] / "docs" / "tutorials" / "keras.md").read_text()
    blocks = [block.split("\n", 1)[1] for block in page.split("```python")[1:]]
    blocks = ["\n".join(line for line in block.split("```")[0].splitlines()
                        if "markdown-exec: hide" not in line) for block in blocks]
    for cell in (LENET, ALEXNET, VGG16, GOOGLENET):
        assert to_minicnn_imports(cell).strip() in [b.strip() for b in blocks]


SMALL_BN = '''
import keras
from keras import layers

keras.backend.clear_session()
model = keras.Sequential([
    keras.Input(shape=DATA_SHAPE),
    layers.Conv2D(3, 3, data_format=DATA_FORMAT),
    layers.BatchNormalization(axis=AXIS),
    layers.Flatten(data_format=DATA_FORMAT),
    layers.Dense(2),
])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
'''

GRAPH = '''
import keras
from keras import layers

keras.backend.clear_session()
inputs = keras.Input(shape=(8, 8, 3))
a = layers.Conv2D(4, 1, activation="relu")(inputs)
b = layers.Conv2D(4, 3, padding="same")(inputs)
joined = layers.Concatenate(axis=-1)([a, b])
summed = layers.Add()([layers.Conv2D(8, 1)(joined), joined])
pooled = layers.GlobalAveragePooling2D()(layers.AveragePooling2D(2, padding="same")(summed))
outputs = layers.Dense(3, activation="softmax")(pooled)
model = keras.Model(inputs, outputs)
'''


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_batch_norm_moving_statistics_follow_keras_rule(data_format):
    """m = 8 values per channel, where the biased and unbiased variances differ by 8/7."""
    shape, axis = ((4, 4, 2), -1) if data_format == "channels_last" else ((2, 4, 4), 1)
    cell = SMALL_BN.replace("DATA_SHAPE", repr(shape)).replace("AXIS", str(axis)).replace(
        "DATA_FORMAT", repr(data_format))
    theirs = run_cell(cell, mine=False)[0]["model"]
    ours = run_cell(cell, mine=True)[0]["model"]
    assert layer_table(ours, True) == layer_table(theirs, False)
    transplant(theirs, ours)
    x, y = images(shape, n=2, seed=4), images((2,), n=2, seed=5)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    theirs.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(theirs.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # after a step, float32 rounding of the two frameworks' sums compounds (seen: 1.5e-5
    # relative); the biased and unbiased variance rules differ by 2e-4 to 6e-3
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-6)


def test_functional_model_agrees():
    theirs = run_cell(GRAPH, mine=False)[0]["model"]
    ours = run_cell(GRAPH, mine=True)[0]["model"]
    assert [tuple(t.output_shape) for t in ours.layers] == \
        [tuple(t.output.shape) for t in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    transplant(theirs, ours)
    x = images((8, 8, 3), n=3, seed=6)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_refused_keras_arguments_say_so():
    with pytest.raises(TypeError, match="kernel_regularizer.*not supported"):
        mkeras.layers.Dense(3, kernel_regularizer="l2")
    with pytest.raises(TypeError, match="sample_weight"):
        model = run_cell(KERAS_ONLY, mine=True)[0]["model"]
        model.fit(images((16, 16, 3), n=2), np.arange(2), sample_weight=np.ones(2))
    with pytest.raises(ValueError, match="one image layout per model"):
        mkeras.Sequential([mkeras.layers.Conv2D(2, 3, input_shape=(8, 8, 3)),
                           mkeras.layers.MaxPooling2D(data_format="channels_first")])
    with pytest.raises(ValueError, match="axis=1 is not the channels"):
        mkeras.Sequential([mkeras.layers.Conv2D(2, 3, input_shape=(8, 8, 3)),
                           mkeras.layers.BatchNormalization(axis=1)])
