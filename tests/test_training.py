"""compile / fit / evaluate / predict: what they return, which mode they run in, and
the errors they raise. Small models on small generated data, so every test is quick."""
import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.functional as F
from minicnn.data import synthetic_digits
from minicnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from minicnn.optim import SGD, Adam, AdamW

SIZE = 8


@pytest.fixture(scope="module")
def digits():
    x, y = synthetic_digits(96, size=SIZE, seed=0)
    x_val, y_val = synthetic_digits(40, size=SIZE, seed=1)
    return x, y, x_val, y_val


def small_model(seed=0, softmax=True, dropout=False):
    mc.manual_seed(seed)
    layers = [Conv2D(4, 3, activation="relu", input_shape=(1, SIZE, SIZE)), MaxPooling2D(2),
              Flatten(), Dense(16, activation="relu")]
    if dropout:
        layers.append(Dropout(0.5))
    layers.append(Dense(10, activation="softmax" if softmax else None))
    return mc.Sequential(layers)


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def one_hot(y, classes=10):
    return np.eye(classes, dtype=np.float32)[y]


# ----------------------------------------------------------------------------- fit
def test_fit_returns_history_with_one_value_per_epoch(digits):
    x, y, x_val, y_val = digits
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(x_val, y_val),
                        verbose=0, seed=0)
    assert isinstance(history, mc.History) and model.history is history
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert history.epoch == [0, 1, 2]
    for name, values in history.history.items():
        assert len(values) == 3 and all(np.isfinite(values)), name
    assert all(0 <= a <= 1 for a in history.history["accuracy"] + history.history["val_accuracy"])
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_fit_without_validation_or_metrics_logs_only_the_loss(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert list(history.history) == ["loss"]


def test_validation_metrics_are_those_of_evaluate_after_the_epoch(digits):
    x, y, x_val, y_val = digits
    model = small_model()
    model.compile(optimizer=SGD(lr=0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=32, validation_data=(x_val, y_val),
                        verbose=0, seed=1)
    loss, accuracy = model.evaluate(x_val, y_val, batch_size=32)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy)


def test_validation_split_holds_out_the_last_samples(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0, seed=0)
    loss, accuracy = model.evaluate(x[72:], y[72:])
    assert history.history["val_loss"] == [pytest.approx(loss, rel=1e-6)]
    assert history.history["val_accuracy"] == [pytest.approx(accuracy)]


def test_training_loss_is_the_sample_mean_over_the_epoch(digits):
    """With lr = 0 the weights never change, so the epoch's loss is evaluate's loss."""
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer=SGD(lr=0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, batch_size=40, verbose=0)     # batches 40, 40, 16
    loss, accuracy = model.evaluate(x, y, batch_size=96)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    assert history.history["accuracy"][0] == pytest.approx(accuracy)


def test_one_optimizer_step_per_batch(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer=Adam(lr=1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[:50], y[:50], epochs=2, batch_size=16, verbose=0)       # 4 batches per epoch
    assert [s["step"] for s in model.optimizer.state] == [8] * len(model.parameters())


def test_fit_is_reproducible_from_the_seed(digits):
    x, y, _, _ = digits
    results = []
    for shuffle_seed in (3, 3, 4):
        model = small_model(seed=0)
        model.compile(optimizer=SGD(lr=0.05), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=shuffle_seed)
        results.append(weights(model))
    for a, b in zip(results[0], results[1]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(results[0], results[2]))


def test_shuffle_false_visits_the_samples_in_order(digits):
    """Without shuffling, fit is the plain PyTorch loop over consecutive batches."""
    x, y, _, _ = digits
    model = small_model(seed=0, softmax=False)
    model.compile(optimizer=SGD(lr=0.05, momentum=0.9), loss="cross_entropy")
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)

    by_hand = small_model(seed=0, softmax=False)
    opt = SGD(by_hand.parameters(), lr=0.05, momentum=0.9)
    by_hand.train()
    for start in range(0, len(x), 32):
        opt.zero_grad()
        F.cross_entropy(by_hand(x[start:start + 32]), y[start:start + 32]).backward()
        opt.step()
    for a, b in zip(weights(model), weights(by_hand)):
        np.testing.assert_array_equal(a, b)


def test_fit_trains_in_training_mode_and_evaluates_in_eval_mode(digits):
    x, y, x_val, y_val = digits
    model = small_model(dropout=True)
    modes = []

    def recording_loss(y_pred, y_true):
        modes.append(model.training)
        return F.nll_of_probabilities(y_pred, y_true)

    model.compile(optimizer="adam", loss=recording_loss)
    model.fit(x[:32], y[:32], epochs=1, batch_size=16, validation_data=(x_val, y_val),
              verbose=0)
    assert modes == [True, True, False, False, False]    # 2 training batches, 3 validation
    assert model.training                                # evaluate put the mode back


def test_fit_prints_one_line_per_epoch(digits, capsys):
    x, y, x_val, y_val = digits
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, validation_data=(x_val, y_val))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2") and lines[1].startswith("Epoch 2/2")
    for key in ("loss:", "accuracy:", "val_loss:", "val_accuracy:"):
        assert key in lines[1]
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_fit_a_float64_model(digits):
    x, y, _, _ = digits                                  # float32 data
    model = small_model().double()
    model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert all(p.dtype == np.float64 for p in model.parameters())


def test_compile_binds_an_optimizer_made_without_parameters(digits):
    x, y, _, _ = digits
    model = small_model()
    opt = SGD(lr=0.01, momentum=0.9)
    assert not opt.is_bound
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    assert model.optimizer is opt
    assert [id(p) for p in opt.params] == [id(p) for p in model.parameters()]
    before = weights(model)
    model.fit(x, y, epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, weights(model)))


def test_compile_binds_the_weights_of_a_model_built_on_its_first_batch(digits):
    """Without input_shape the layers make their weights on the first batch of fit."""
    x, y, _, _ = digits
    mc.manual_seed(0)
    model = mc.Sequential([Flatten(), Dense(16, activation="relu"), Dense(10)])
    model.compile(optimizer=SGD(lr=0.1), loss="cross_entropy")
    model.fit(x, y, epochs=2, verbose=0)
    assert len(model.optimizer.params) == 4
    assert model.history.history["loss"][1] < model.history.history["loss"][0]


def test_compile_keeps_an_optimizer_already_bound_to_the_model():
    model = small_model()
    opt = Adam(model.parameters())
    opt.state[0]["marker"] = True
    model.compile(optimizer=opt, loss="mse")
    assert opt.state[0].get("marker")


@pytest.mark.parametrize("name, cls", [("sgd", SGD), ("adam", Adam), ("AdamW", AdamW)])
def test_compile_optimizer_by_name(name, cls):
    model = small_model()
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is cls and model.optimizer.is_bound


# ----------------------------------------------------------------------------- losses
def test_loss_names_objects_and_functions_agree(digits):
    x, y, _, _ = digits
    model = small_model()
    logits_model = small_model(softmax=False)          # same seed: the same weights
    expected = F.cross_entropy(logits_model(x), y).item()
    for loss in ("sparse_categorical_crossentropy",
                 mc.losses.SparseCategoricalCrossentropy(),
                 lambda y_pred, y_true: F.nll_of_probabilities(y_pred, y_true)):
        model.compile(optimizer="sgd", loss=loss)
        assert model.evaluate(x, y, batch_size=96) == pytest.approx(expected, rel=1e-5)
    for loss in ("cross_entropy", mc.losses.SparseCategoricalCrossentropy(from_logits=True)):
        logits_model.compile(optimizer="sgd", loss=loss)
        assert logits_model.evaluate(x, y, batch_size=96) == pytest.approx(expected, rel=1e-5)
    for loss in ("categorical_crossentropy", mc.losses.CategoricalCrossentropy()):
        model.compile(optimizer="sgd", loss=loss)
        assert model.evaluate(x, one_hot(y), batch_size=96) == pytest.approx(expected, rel=1e-5)


def test_label_smoothing_matches_torch():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    loss = mc.losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(y),
                                                 label_smoothing=0.1)
    assert loss(y, mc.Tensor(logits)).item() == pytest.approx(expected.item(), rel=1e-12)


def test_mse_loss_and_metric(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mse", "mae"])
    loss, mse, mae = model.evaluate(x, one_hot(y), batch_size=96)
    p = model.predict(x)
    assert loss == pytest.approx(np.mean((p - one_hot(y)) ** 2), rel=1e-5)
    assert mse == pytest.approx(loss, rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(p - one_hot(y))), rel=1e-5)
    assert model.metrics_names == ["loss", "mse", "mae"]


def test_loss_objects_take_targets_first_as_in_keras():
    y_pred = mc.Tensor(np.full((2, 10), 0.1), requires_grad=True) * 1
    with pytest.raises(TypeError, match=r"called as loss\(y_true, y_pred\).*Swap the arguments"):
        mc.losses.SparseCategoricalCrossentropy()(y_pred, np.array([1, 2]))
    with pytest.raises(ValueError, match="For one-hot labels use 'categorical_crossentropy'"):
        mc.losses.SparseCategoricalCrossentropy()(one_hot(np.array([1, 2])), y_pred)


def test_softmax_model_with_huge_logits_stays_finite(digits):
    """Scaled by 1e4, the last layer gives logits ~1e4 apart: the softmax rounds to exact
    0s and 1s. 'sparse_categorical_crossentropy' works from the logits behind the softmax,
    so the loss is the exact (huge, finite) cross-entropy and the gradients are finite."""
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer=SGD(lr=1e-6), loss="sparse_categorical_crossentropy")
    for p in model.layers[-1].parameters():
        p.data *= 1e4
    x_batch, y_batch = x[:16], y[:16]
    probs = model(x_batch)
    assert np.any(probs.data == 0)                       # log(p) would be -inf here
    logits = probs.creator.inputs[0]
    loss = mc.losses.SparseCategoricalCrossentropy()(y_batch, probs)
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx(F.cross_entropy(logits.detach(), y_batch).item(),
                                        rel=1e-6)
    assert loss.item() > 100
    loss.backward()
    for p in model.parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad))
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and history.history["loss"][0] > 100
    assert all(np.all(np.isfinite(w)) for w in weights(model))
    assert np.isfinite(model.evaluate(x, y))


def test_evaluate_loss_of_a_softmax_model_uses_the_logits(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    for p in model.layers[-1].parameters():
        p.data *= 1e4
    logits = model(x).creator.inputs[0]
    expected = F.cross_entropy(logits.detach(), y).item()
    assert model.evaluate(x, y, batch_size=len(x)) == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- metrics
def test_accuracy_is_sparse_or_categorical_from_the_label_shape(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", "sparse_categorical_accuracy"])
    expected = np.mean(model.predict(x).argmax(axis=1) == y)
    _, accuracy, sparse = model.evaluate(x, y, batch_size=7)
    assert accuracy == pytest.approx(expected) and sparse == pytest.approx(expected)
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=["accuracy", "categorical_accuracy"])
    _, accuracy, categorical = model.evaluate(x, one_hot(y))
    assert accuracy == pytest.approx(expected) and categorical == pytest.approx(expected)


def test_metric_functions():
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_array_equal(mc.metrics.accuracy(y_pred, np.array([1, 1, 1])), [1, 0, 1])
    np.testing.assert_array_equal(mc.metrics.accuracy(y_pred, np.eye(2)[[1, 0, 0]]), [1, 1, 0])
    np.testing.assert_array_equal(mc.metrics.accuracy(np.array([[0.7], [0.2]]),
                                                      np.array([1, 1])), [1, 0])


def test_custom_metric_function(digits):
    x, y, _, _ = digits

    def fraction_of_zeros(y_pred, y_true):
        return (np.asarray(y_true) == 0).astype(float)

    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=[fraction_of_zeros])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert history.history["fraction_of_zeros"] == [pytest.approx(np.mean(y == 0))]


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_return_forms(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = model.evaluate(x, y)
    assert isinstance(loss, float)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.evaluate(x, y)
    assert isinstance(result, list) and len(result) == 2
    assert result[0] == pytest.approx(loss)
    assert model.evaluate(x, y, return_dict=True) == {"loss": result[0], "accuracy": result[1]}


def test_evaluate_does_not_depend_on_the_batch_size_and_records_no_graph(digits):
    x, y, _, _ = digits
    model = small_model(dropout=True)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    a = model.evaluate(x, y, batch_size=5)
    b = model.evaluate(x, y, batch_size=1000)
    assert a == pytest.approx(b, rel=1e-5)               # and dropout is off (eval mode)
    assert all(p.grad is None for p in model.parameters())


# ----------------------------------------------------------------------------- predict
def test_predict_shape_eval_mode_and_no_graph(digits):
    x, _, _, _ = digits
    model = small_model(dropout=True)
    model.train()
    out = model.predict(x, batch_size=10)
    assert isinstance(out, np.ndarray) and out.shape == (len(x), 10) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(out, model.predict(x, batch_size=33), rtol=1e-5)  # no dropout
    model.eval()
    with mc.no_grad():
        np.testing.assert_allclose(out, model(x).data, rtol=1e-6)
    model.train()
    model.predict(x[:3])
    assert model.training                                # the mode is put back


def test_predict_needs_no_compile_and_accepts_tensors(digits):
    x, _, _, _ = digits
    model = small_model()
    assert model.predict(mc.Tensor(x[:4])).shape == (4, 10)


# ----------------------------------------------------------------------------- PyTorch loop
def test_pytorch_style_loop(digits):
    x, y, _, _ = digits
    model = small_model(softmax=False)
    opt = SGD(model.parameters(), lr=0.2, momentum=0.9)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


# ----------------------------------------------------------------------------- errors
def test_fit_evaluate_before_compile(digits):
    x, y, _, _ = digits
    model = small_model()
    with pytest.raises(RuntimeError, match=r"compiled before fit\(\).*model.compile\(.*\) first"):
        model.fit(x, y)
    with pytest.raises(RuntimeError, match=r"compiled before evaluate\(\)"):
        model.evaluate(x, y)


def test_errors_name_the_problem(digits):
    x, y, _, _ = digits
    model = small_model()
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'; valid names are "
                                         r"\['adam', 'adamw', 'sgd'\]"):
        model.compile(optimizer="rmsprop", loss="mse")
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; valid names are \[.*"
                                         r"'sparse_categorical_crossentropy'"):
        model.compile(optimizer="sgd", loss="hinge")
    with pytest.raises(ValueError, match=r"unknown metric 'f1'; valid names are \[.*'accuracy'"):
        model.compile(optimizer="sgd", loss="mse", metrics=["f1"])
    with pytest.raises(ValueError, match="compile needs a loss"):
        model.compile(optimizer="sgd")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="x has 96 samples but y has 95"):
        model.fit(x, y[:-1])
    with pytest.raises(ValueError, match="x has 40 samples but y has 96"):
        model.fit(x, y, validation_data=(x[:40], y))
    with pytest.raises(ValueError, match="x has 10 samples but y has 96"):
        model.evaluate(x[:10], y)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        model.fit(x, y, batch_size=0)
    with pytest.raises(ValueError, match="epochs must be a whole number >= 1, got 0"):
        model.fit(x, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        model.predict(x, batch_size=0)
    with pytest.raises(ValueError, match=r"validation_data must be a pair \(x_val, y_val\)"):
        model.fit(x, y, validation_data=x)


def test_a_loss_that_is_not_a_scalar_is_rejected(digits):
    x, y, _, _ = digits
    model = small_model()
    model.compile(optimizer="sgd", loss=lambda y_pred, y_true: y_pred * 1)
    with pytest.raises(ValueError, match=r"must return a single-number Tensor.*\(32, 10\)"):
        model.fit(x, y)
