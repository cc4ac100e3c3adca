"""The hypothesis profiles minicnn's own tests run under, for your conftest.py:

    # conftest.py
    import os
    from hypothesis import settings
    from minicnn.testing import register_profiles

    register_profiles()
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

(or ``register_profiles(load="ci")``), then choose with ``--hypothesis-profile=NAME``:

    ci        derandomized (the same examples every run, so a failure in CI reproduces
              on your machine), no deadline (the first example pays for imports and
              Numba's compiles), 30 examples, the reproduction blob printed on failure
    dev       10 examples, for quick local runs
    thorough  300 examples, for hunting edge cases
"""
from hypothesis import HealthCheck, settings

PROFILES = {
    "ci": dict(max_examples=30, deadline=None, derandomize=True, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow]),
    "dev": dict(max_examples=10, deadline=None),
    "thorough": dict(max_examples=300, deadline=None),
}


def register_profiles(load=None):
    """Register the profiles ``ci``, ``dev`` and ``thorough`` (module docstring) with
    hypothesis; with ``load=NAME`` also make that one the current profile. Returns the
    names registered."""
    for name, options in PROFILES.items():
        settings.register_profile(name, **options)
    if load is not None:
        if load not in PROFILES:
            raise ValueError(f"register_profiles: unknown profile {load!r}; choose one of "
                             f"{', '.join(PROFILES)}")
        settings.load_profile(load)
    return list(PROFILES)
