"""Ops that only move numbers around: flatten (reshape and transpose live on Tensor)."""
from ..tensor import as_tensor


def flatten(x, start_dim=1):
    """Join the axes from ``start_dim`` on into one.

    Shape: (N, C, H, W) -> (N, C*H*W) for the default start_dim=1.
    """
    x = as_tensor(x)
    if not -x.ndim <= start_dim < max(x.ndim, 1):
        raise ValueError(f"flatten: start_dim={start_dim} is out of range for a {x.ndim}-D input")
    start_dim %= max(x.ndim, 1)
    return x.reshape(x.shape[:start_dim] + (-1,))
