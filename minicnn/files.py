"""Writing files so that nothing a user saved is ever lost or half-written.

    atomic_write(path, write)        write(f) to a temporary file beside path, then rename it
    check_writable_folder(folder)    fail now, with a named error, if nothing can be saved there
    remove_stale_temp_files(folder)  delete the temporary files of writes that were killed
    defer_sigint()                   a block that Ctrl-C does not cut in half

A crash or a kill mid-write leaves the old file as it was. Ctrl-C during a write waits
for the rename, then interrupts. A failed write raises ``SaveError`` (an OSError) that
names the file and the reason ("the disk is full", "the folder is read-only").

Temporary files are named ``<name>.<pid>-<random>.tmp`` beside the target, pid being the
writing process. One of ours is stale, and removed by the next write to that folder's
file of the same name (or by ``remove_stale_temp_files``), when its process no longer
runs on this machine, or when nothing has written to it for ``STALE_SECONDS`` (a process
id reused, a write from another machine, or a ``<name>.<8 letters>.tmp`` left by older
versions of minicnn, which wrote no pid). A live write is never touched.
"""
import contextlib
import errno
import os
import re
import secrets
import signal
import stat
import threading
import time

STALE_SECONDS = 15 * 60          # no write for this long: the writer is gone


class SaveError(OSError):
    """A file could not be written; the message names it, the reason and what to do.
    ``errno`` is that of the underlying error."""


# ----------------------------------------------------------------------------- atomic write
def atomic_write(path, write):
    """Call write(file) on a temporary file beside ``path``, then rename it to ``path``.

    The new file keeps the permission bits of the file it replaces (a 0600 checkpoint
    stays 0600); a new file gets those ``open()`` gives (0666 less the umask). Ctrl-C
    during the write is held back until the rename is done (see ``defer_sigint``).
    Stale temporary files of earlier, killed writes to ``path`` are removed first."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise _save_error(path, error) from None
    remove_stale_temp_files(folder, os.path.basename(path))
    mode = _existing_mode(path)
    with defer_sigint():
        try:
            # An existing file's mode from the start, so a private file's content is never
            # readable by others while it is written; umask applies, then chmod sets it.
            temp, handle = _create_temp(path, 0o666 if mode is None else mode)
        except OSError as error:
            raise _save_error(path, error) from None
        try:
            with os.fdopen(handle, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            if mode is not None:
                os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.remove(temp)
            if isinstance(error, OSError) and not isinstance(error, SaveError):
                raise _save_error(path, error) from None
            raise
        _sync_folder(folder)


def check_writable_folder(folder, what="the output folder"):
    """Make ``folder`` if needed and write (then remove) a small file in it, so a run
    that could not save learns it before it starts. Raises SaveError naming the folder."""
    folder = os.fspath(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        temp, handle = _create_temp(os.path.join(folder, ".minicnn-write-check"), 0o600)
        os.close(handle)
        os.remove(temp)
    except OSError as error:
        raise SaveError(f"cannot write in {what} {folder!r}: {_reason(error)}; choose a "
                        f"folder you can write to") from None
    remove_stale_temp_files(folder)


def remove_stale_temp_files(folder, name=None):
    """Delete our stale temporary files in ``folder`` (those of ``name`` only, if given).

    Ours: ``<name>.<pid>-<8 hex>.tmp``, or, only when ``name`` is given, the
    ``<name>.<8 letters>.tmp`` of older versions (a pattern too loose to sweep a whole
    folder with). Stale: its pid is not a running process here, or it was last written
    ``STALE_SECONDS`` ago or more. Returns the paths removed."""
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry)
        if match is None or (name is not None and match["name"] != name) \
                or (name is None and match["pid"] is None):
            continue
        temp = os.path.join(folder, entry)
        try:
            age = time.time() - os.stat(temp).st_mtime
        except OSError:
            continue                                 # gone already
        pid = int(match["pid"]) if match["pid"] else None
        if age >= STALE_SECONDS or (pid is not None and pid != os.getpid()
                                    and not _process_exists(pid)):
            with contextlib.suppress(OSError):
                os.remove(temp)
                removed.append(temp)
    return removed


# <name>.<pid>-<8 hex>.tmp, or <name>.<8 of mkstemp's letters>.tmp (older versions)
_TEMP_NAME = re.compile(r"(?P<name>.+)\.(?:(?P<pid>[0-9]+)-[0-9a-f]{8}|[a-z0-9_]{8})\.tmp")


def _create_temp(path, mode):
    """A new file ``<path>.<pid>-<random>.tmp``, opened for writing: (name, fd)."""
    while True:
        temp = f"{path}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                 | getattr(os, "O_BINARY", 0), mode)
        except FileExistsError:
            continue


def _existing_mode(path):
    """The permission bits of the file at ``path``, or None if there is none."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def _process_exists(pid):
    try:
        os.kill(pid, 0)                              # signal 0: only asks whether it exists
    except ProcessLookupError:
        return False
    except OSError:
        return True                                  # exists, belongs to someone else
    return True


def _sync_folder(folder):
    """Flush the rename to disk too (POSIX; skipped where a folder cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


_REASONS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied",
            errno.ENOTDIR: "a part of the path is a file, not a folder"}


def _reason(error):
    return _REASONS.get(error.errno) or error.strerror or str(error)


def _save_error(path, error):
    advice = ("free some space or save elsewhere" if error.errno in (errno.ENOSPC, errno.EDQUOT)
              else "save elsewhere or fix the folder's permissions")
    saved = SaveError(f"cannot save {path!r}: {_reason(error)} ({error}); {advice}. "
                      f"Any earlier file there is unchanged")
    saved.errno = error.errno
    return saved


# ----------------------------------------------------------------------------- Ctrl-C
@contextlib.contextmanager
def defer_sigint():
    """Hold back Ctrl-C (SIGINT) until the block ends, then deliver it.

    Inside the block a SIGINT is only counted; at the end the handler that was installed
    before gets each one, in order (Python's default raises KeyboardInterrupt; fit's first
    asks to stop after the batch, its second raises). So an optimiser step or a file
    write is never cut in half. Blocks nest: an inner one leaves it to the outer one
    (the optimiser step inside fit's step holds the handler only once). Outside the
    main thread (where Python runs no signal handler) it does nothing."""
    if threading.current_thread() is not threading.main_thread() or _DEFERRING[0]:
        yield                                        # not ours to handle, or held already
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:                             # a handler not set from Python
        yield
        return
    pending = []
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    _DEFERRING[0] = 1
    try:
        yield
    finally:
        _DEFERRING[0] = 0
        signal.signal(signal.SIGINT, previous)
        for signum in pending:                       # the handler may raise: that ends it
            signal.raise_signal(signum)


_DEFERRING = [0]     # 1 inside the outermost defer_sigint (an inner one then does nothing)
