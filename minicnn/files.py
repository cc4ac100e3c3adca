"""Writing files so that nothing a user saved is ever lost or half-written.

    atomic_write(path, write)     write(f) to a temporary file beside path, then rename it

A crash or a kill mid-write leaves the old file as it was.
"""
import os
import tempfile


def atomic_write(path, write):
    """Call write(file) on a temporary file beside ``path``, then rename it to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp",
                                    dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o666 & ~_umask())          # mkstemp makes it private (0600)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
