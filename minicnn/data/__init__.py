"""minicnn.data — data sets.

    synthetic_digits(n, size=16, seed=0)   generated 0-9 digits, no download needed
"""
from .synthetic import synthetic_digits

__all__ = ["synthetic_digits"]
