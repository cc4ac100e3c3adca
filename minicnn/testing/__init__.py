"""minicnn.testing: property-based gradient tests for your ops and layers.

    pip install "minicnn[testing]"              # hypothesis (PyTorch only for assert_matches_torch)

    from minicnn.testing import check_layer, check_gradients, strategies as mst

    def test_my_layer():
        check_layer(MyLayer, mst.image_shapes())    # shapes, gradients, dtypes, backends, config

    @given(mst.arrays(mst.image_shapes()), mst.seeds)
    def test_my_op(x, seed):
        check_gradients(my_op, [x], seed=seed)

What is here (each module's docstring says more):

    strategies              hypothesis strategies: conv2d, pooling, dense and batch-norm
                            configurations, shapes, arrays from a drawn seed, dtypes
    check_gradients         mc.gradcheck for property tests (float64, kinks, messages)
    check_layer             one call that property-tests a Layer;
    check_layer_once        the same checks for one case, inside your own @given test
    assert_matches_torch    forward and backward against PyTorch, with TOLERANCES
    assert_close            elementwise comparison with those tolerances
    register_profiles       the hypothesis profiles ci, dev, thorough (for conftest.py)

minicnn's own tests use exactly these.
"""
try:
    import hypothesis  # noqa: F401
except ImportError as error:                    # a clear message instead of a bare traceback
    raise ImportError("minicnn.testing needs hypothesis: pip install \"minicnn[testing]\" "
                      "(or pip install hypothesis)") from error

from . import strategies
from .compare import TOLERANCES, assert_close, assert_matches_torch
from .gradients import check_gradients
from .layer import LayerCheckError, LayerCheckReport, check_layer, check_layer_once
from .profiles import register_profiles

__all__ = ["strategies", "check_gradients", "check_layer", "check_layer_once",
           "LayerCheckError", "LayerCheckReport", "assert_matches_torch", "assert_close",
           "TOLERANCES", "register_profiles"]
