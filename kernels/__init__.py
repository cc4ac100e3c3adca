"""minicnn.kernels — the fast twins of the reference math.

This folder is installed as the sub-package ``minicnn.kernels``. Each kernel here has
the same contract as a reference op in ``minicnn.functional`` and a test that holds the
two together. The reference NumPy code is what runs when no kernel is registered.
"""
