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


# -- the docs site, built once per run (tests/test_docs.py, tests/test_site.py). With
# MINICNN_SITE_DIR set, the site already built there is checked instead: .ci/run builds
# it in a venv that has only the docs extra and checks it with tests/test_site.py.
@pytest.fixture(scope="session")
def docs_site(tmp_path_factory):
    import subprocess
    import sys
    from pathlib import Path
    given = os.environ.get("MINICNN_SITE_DIR")
    if given:
        site = Path(given)
        assert (site / "index.html").is_file(), f"MINICNN_SITE_DIR={given} holds no built site"
        return site
    site = tmp_path_factory.mktemp("site")
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                             str(repo / "mkdocs.yml"), "-d", str(site)], capture_output=True,
                            text=True, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
                            timeout=600)
    assert result.returncode == 0, (f"mkdocs build --strict failed:\n{result.stdout}\n"
                                    f"{result.stderr}")
    return site
