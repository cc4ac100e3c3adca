"""gradcheck itself: it passes true gradients, catches wrong ones, explains itself."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F


class WrongSquare(mc.Function):
    """y = x^2 with a backward that forgets the factor 2."""
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return g * self.x


def test_passes_a_correct_gradient():
    result = mc.gradcheck(lambda a, b: (a * b).exp().sum(axis=0), [np.ones((2, 3)) * 0.3,
                                                                   np.linspace(0, 1, 3)])
    assert result and result.checked == 3 + 6 + 3 and result.max_error < 1e-6


def test_failure_names_input_element_values_and_seed():
    with pytest.raises(mc.GradcheckError) as info:
        mc.gradcheck(lambda x: WrongSquare()(x), [np.array([[1.0, 2.0]])], seed=42)
    message = str(info.value)
    assert "input 0 (shape (1, 2)) element (0, 1)" in message
    assert "numeric" in message and "analytic" in message and "seed=42" in message


def test_result_instead_of_exception():
    result = mc.gradcheck(lambda x: WrongSquare()(x), [np.array([1.0])], raise_exception=False)
    assert not result and result.failures


def test_relu_at_zero_is_reported_as_a_kink():
    x = np.array([-1.0, 0.0, 2.0])
    result = mc.gradcheck(F.relu, [x], directions=0)
    assert result.passed and [k[0] for k in result.kinks] == ["input 0 (shape (3,)) element (1,)"]
    with pytest.raises(mc.GradcheckError, match=r"element \(1,\)"):
        mc.gradcheck(F.relu, [x], directions=0, kinks="fail")


def test_parameters_are_checked_in_place_and_restored():
    w = mc.Tensor(np.array([[0.5, -1.0], [2.0, 0.1]]), requires_grad=True)
    before = w.data.copy()
    x = np.array([[1.0, 2.0]])
    assert mc.gradcheck(lambda w: F.linear(x, w).tanh() if hasattr(mc.Tensor, "tanh")
                        else F.tanh(F.linear(x, w)), [w])
    np.testing.assert_array_equal(w.data, before)


def test_float32_tensor_is_refused():
    with pytest.raises(TypeError, match="input 0 is float32; finite differences need float64"):
        mc.gradcheck(F.relu, [mc.Tensor(np.ones(2, np.float32))])


def test_several_outputs():
    assert mc.gradcheck(lambda x: (x.exp(), x * 3), [np.array([0.1, 0.2])])


def test_max_elements_samples():
    result = mc.gradcheck(lambda x: x * x, [np.linspace(-1, 1, 50)], max_elements=5, directions=1)
    assert result.checked == 1 + 5
