"""Test configuration: hypothesis profiles and the PyTorch oracle requirement.

Hypothesis profiles (choose with --hypothesis-profile=NAME), the ones minicnn.testing
offers to every user (minicnn/testing/profiles.py):
    ci        the default: derandomized (same examples every run), no deadline
              (the first example pays for imports and warm-up), moderate example counts
    dev       fewer examples, for quick local runs
    thorough  many more examples, for hunting edge cases
"""
import os

import pytest
from hypothesis import settings

from minicnn.testing import register_profiles

register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # PyTorch is the cross-check oracle. A missing torch must fail the run loudly, not
    # turn the cross-checks into skips. MINICNN_ALLOW_NO_TORCH=1 opts out (local use only).
    try:
        import torch  # noqa: F401
    except ImportError:
        if os.environ.get("MINICNN_ALLOW_NO_TORCH") != "1":
            raise pytest.UsageError(
                "PyTorch is required by the cross-check tests but is not installed: "
                "run `pip install -e '.[dev]'` (it pins torch==2.13.0, a CPU build), "
                "or set MINICNN_ALLOW_NO_TORCH=1 to run without the cross-checks")
    # Keras 3 (on the torch backend) is the oracle of minicnn.keras (tests/test_keras.py):
    # missing, it fails the run the same way. Checked by its files, so as not to import
    # it (slow) in runs that do not use it.
    import importlib.util
    if importlib.util.find_spec("keras") is None and \
            os.environ.get("MINICNN_ALLOW_NO_TORCH") != "1":
        raise pytest.UsageError(
            "Keras 3 is required by the minicnn.keras cross-checks but is not installed: "
            "run `pip install -e '.[dev]'` (it pins keras), or set MINICNN_ALLOW_NO_TORCH=1 "
            "to run without the cross-checks")


# -- backends (issue 4): the suite runs once per backend, chosen by MINICNN_BACKEND (the
# README's test command runs it under the default numba backend, then under numpy);
# tests/test_kernels.py compares the two backends directly whatever the choice.
def pytest_report_header(config):
    import minicnn
    return (f"minicnn backend: {minicnn.get_backend()} (MINICNN_BACKEND="
            f"{os.environ.get('MINICNN_BACKEND', '<unset>')}; available: "
            f"{', '.join(minicnn.available_backends())})")
