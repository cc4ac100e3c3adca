"""Checks of the arguments constructors take, from users and from configs read from files.

    check_bool(value, "Dense 'dense': use_bias")     True/False only ('false' is refused)
    finite_number(value, "SGD: lr", low=0)            a finite real number in bounds

Both raise with a message that starts with ``what`` (who and which argument) and shows
the value given, so a bad argument is named where it was given.
"""
import math
import numbers

import numpy as np


def check_bool(value, what):
    """A real bool (True/False or a NumPy bool); anything else is a TypeError, since
    bool('false') is True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def finite_number(value, what, low=None, below=None, above=None):
    """``value`` as a float if it is a finite real number (not a bool) with
    low <= value, value < below and above < value (the bounds given), else a ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{what} must be >= {low}, got {value!r}")
    if below is not None and value >= below:
        raise ValueError(f"{what} must be < {below}, got {value!r}")
    if above is not None and value <= above:
        raise ValueError(f"{what} must be > {above}, got {value!r}")
    return float(value)
