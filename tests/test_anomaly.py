"""detect_anomaly: the first op whose forward or backward makes NaN/inf is named."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.tensor import layer_scope


def test_forward_nan_names_the_op():
    x = mc.Tensor(np.array([-1.0, 1.0]), requires_grad=True)
    with mc.detect_anomaly():
        with pytest.raises(FloatingPointError, match="forward output of op 'Log' contains NaN"):
            with np.errstate(invalid="ignore"):
                x.log()


def test_backward_infinity_names_the_op_and_layer():
    x = mc.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with mc.detect_anomaly():
        with layer_scope("dense_3"):
            y = x ** 0.5                     # forward is fine: sqrt(0) = 0
        with pytest.raises(FloatingPointError,
                           match="backward of op 'Pow' in layer 'dense_3' .* contains infinity"):
            with np.errstate(divide="ignore"):
                y.sum().backward()


def test_off_by_default():
    with np.errstate(invalid="ignore", divide="ignore"):
        y = mc.Tensor(np.array([-1.0])).log()
    assert np.isnan(y.data).all()


def test_anomaly_in_a_model_names_the_layer():
    from minicnn.layers import Dense
    mc.manual_seed(0)
    model = mc.Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    model.layers[1].kernel.data[:] = np.inf
    with mc.detect_anomaly():
        with pytest.raises(FloatingPointError, match=f"op 'Linear' in layer '{model.layers[1].name}'"):
            with np.errstate(invalid="ignore"):
                model(np.ones((2, 3), np.float32))
