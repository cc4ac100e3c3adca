"""Fetch a file from the first mirror that works, verify it, and only then put it in place.

    download(["https://mirror-a/f.gz", "https://mirror-b/f.gz"], "data/mnist/f.gz",
             md5="...", gunzip_md5=True, max_bytes=50_000_000)

What happens, step by step:

1. ``<dest>.lock`` is locked (an OS lock, released even if the process dies), so two
   downloads of one file never write the same part file: the second waits, then finds
   the finished file.
2. A ``dest`` already there is checked against ``md5``; a good one is kept (no request),
   a bad one is deleted and downloaded again.
3. The bytes go to ``<dest>.part``; beside it ``<dest>.part.json`` records the URL and
   the server's validator (a strong ETag, else Last-Modified). A cut download is resumed
   (``Range: bytes=<size>-`` with ``If-Range: <validator>``) only from the same URL, and
   the resumed bytes are kept only if the server answers 206 for exactly that range with
   the same validator. Anything else -- another mirror, no validator, a 200, a changed
   file -- starts the part file over from zero.
4. A connection that breaks mid-file is retried (``retries`` times per mirror).
5. Nothing larger than ``size`` (the exact size, when known) or ``max_bytes`` (a cap,
   default 1 GiB) is accepted: a server announcing more is refused, one sending more is
   cut off. The cap also bounds the decompressed bytes checked with ``gunzip_md5``.
6. The complete file's MD5 is checked: of the decompressed bytes when ``gunzip_md5``
   (the .gz wrappers of a data set differ between mirrors, the content does not). Data
   that does not decompress counts as a wrong checksum. A wrong checksum deletes the
   part file and downloads again from zero, from the same mirror once, then the next.
7. Only a verified file is renamed to ``dest`` (``os.replace``: atomic), so ``dest``
   is never half-written. When every mirror fails, the error names the file, each URL
   tried and what went wrong there (for a checksum: the expected and the got MD5).
"""
import contextlib
import gzip
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
import zlib

CHUNK = 1 << 16
MAX_BYTES = 1 << 30            # the hard cap on one file when no smaller one is given
RETRIABLE_HTTP = (408, 429, 500, 502, 503, 504)


class DownloadError(OSError):
    """No mirror gave a complete file with the right checksum (or an archive is bad)."""


class _Refused(DownloadError):
    """A mirror's answer can never be right (too large, wrong size): try the next one."""


def md5_of(path, gunzip=False, max_bytes=None):
    """MD5 (hex) of a file's bytes, or of its decompressed bytes.

    Raises ValueError when ``gunzip`` and the file is not valid gzip data, or when the
    data read is larger than ``max_bytes``."""
    digest = hashlib.md5()
    count = 0
    opener = gzip.open if gunzip else open
    try:
        with opener(path, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                count += len(block)
                if max_bytes is not None and count > max_bytes:
                    raise ValueError(f"holds more than {max_bytes} bytes"
                                     + (" once decompressed" if gunzip else ""))
                digest.update(block)
    except (zlib.error, gzip.BadGzipFile, EOFError) as error:
        raise ValueError(f"is not valid gzip data ({error})") from None
    return digest.hexdigest()


def checksum_problem(path, md5, gunzip=False, max_bytes=None):
    """None when ``path`` has MD5 ``md5`` (None: anything goes), else what is wrong."""
    if md5 is None:
        return None
    try:
        got = md5_of(path, gunzip, max_bytes)
    except ValueError as error:
        return str(error)
    if got != md5:
        return f"has the wrong checksum (MD5 {got}, expected {md5})"
    return None


def download(urls, dest, md5=None, gunzip_md5=False, size=None, max_bytes=None, retries=3,
             timeout=30, report=None):
    """Download ``dest`` from the first of ``urls`` that works; returns ``dest``.

    md5          expected hex digest (None: no check)
    gunzip_md5   the digest is of the gunzipped content
    size         the file's exact size in bytes, when known (None: any up to max_bytes)
    max_bytes    the most bytes the file (and its decompressed content) may have
                 (default MAX_BYTES, 1 GiB)
    retries      extra attempts per mirror after a cut connection or a bad checksum
    timeout      seconds a connection may stay silent
    report       fn(text) for progress messages (e.g. print), or None
    """
    dest = os.fspath(dest)
    folder = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create the folder {folder} for {os.path.basename(dest)} "
                            f"({error}); choose a writable folder") from None
    urls = [urls] if isinstance(urls, str) else list(urls)
    max_bytes = max_bytes or MAX_BYTES
    cap = size if size is not None else max_bytes
    report = report or (lambda text: None)
    part = dest + ".part"
    with _locked(dest + ".lock", report):
        if os.path.exists(dest):
            problem = checksum_problem(dest, md5, gunzip_md5, max_bytes)
            if problem is None:
                return dest                        # already there (maybe another process's)
            report(f"{dest} {problem}; downloading it again")
            os.remove(dest)
        problems = []
        for url in urls:
            mismatches = 0
            for attempt in range(retries + 1):
                try:
                    _fetch(url, part, size, cap, timeout, report)
                except _Refused as error:          # it would say the same again
                    _remove(part, part + ".json")
                    problems.append(f"{url}: {error}")
                    break
                except (OSError, http.client.HTTPException) as error:
                    problems.append(f"{url}: {error}")
                    if isinstance(error, urllib.error.HTTPError) and \
                            error.code not in RETRIABLE_HTTP:
                        break                      # 404 and the like: try the next mirror
                    time.sleep(min(0.2 * attempt, 1.0))
                    continue
                problem = checksum_problem(part, md5, gunzip_md5, max_bytes)
                if problem is None:
                    os.replace(part, dest)
                    _remove(part + ".json")
                    return dest
                _remove(part, part + ".json")      # never resume from bytes that failed
                problems.append(f"{url}: {os.path.basename(dest)} {problem}")
                mismatches += 1
                if mismatches == 2:                # wrong again from zero: it has other bytes
                    break
                report(f"{url}: {problem}; downloading it again from the start")
    raise DownloadError(f"could not download {os.path.basename(dest)}:\n  " + "\n  ".join(problems)
                        + f"\nDownload it by hand from one of {', '.join(urls)} and put it at "
                          f"{dest}")


def _validator(headers):
    """The response's strong ETag, else its Last-Modified date, else None (If-Range
    accepts only strong validators)."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _resume_point(url, part):
    """How many bytes of ``part`` may be resumed from ``url`` and the validator to send
    (0, None when the part is absent, from another URL, or has no validator)."""
    try:
        with open(part + ".json", encoding="utf-8") as f:
            meta = json.load(f)
        have = os.path.getsize(part)
    except (OSError, ValueError):
        return 0, None
    if not isinstance(meta, dict) or meta.get("url") != url or not isinstance(
            meta.get("validator"), str) or not have:
        return 0, None
    return have, meta["validator"]


def _fetch(url, part, size, cap, timeout, report):
    """Append the missing bytes of ``url`` to ``part``, or start it over; raise on a cut.

    Raises _Refused when the server announces or sends more than ``cap`` bytes, or a
    size other than ``size``."""
    have, validator = _resume_point(url, part)
    if not have:
        _remove(part, part + ".json")
    request = urllib.request.Request(url, headers={"User-Agent": "minicnn"})
    if have:
        request.add_header("Range", f"bytes={have}-")
        request.add_header("If-Range", validator)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:             # the range does not fit the file
            _remove(part, part + ".json")
            raise ConnectionError("the server refused to resume; starting over") from None
        raise
    with response:
        resumed = (have and response.status == 206
                   and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
                   and _validator(response.headers) == validator)
        if response.status == 206 and not resumed:
            _remove(part, part + ".json")
            raise ConnectionError("the server sent a part that does not continue this file "
                                  "(another range or another version); starting over")
        if not resumed:
            have = 0                               # the server sends everything: start over
            with open(part + ".json", "w", encoding="utf-8") as f:
                json.dump({"url": url, "validator": _validator(response.headers)}, f)
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None and length.isdigit() else None
        if expected is not None and size is not None and expected != size:
            raise _Refused(f"the server announces {expected} bytes; the file has {size}")
        if expected is not None and expected > cap:
            raise _Refused(f"the server announces {expected} bytes, more than the "
                           f"{cap} this file may have")
        report(f"downloading {url}" + (f" (resuming at {have} bytes)" if have else ""))
        with open(part, "ab" if resumed else "wb") as f:
            received = have
            for block in iter(lambda: response.read(CHUNK), b""):
                received += len(block)
                if received > cap:
                    raise _Refused(f"the server sent more than {cap} bytes, the most this "
                                   f"file may have; cut off")
                f.write(block)
    if expected is not None and received != expected:
        raise ConnectionError(f"the connection closed after {received} of {expected} bytes")


def _remove(*paths):
    """Delete files that may not exist."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def _locked(lock_path, report):
    """Hold an exclusive OS lock on ``lock_path`` for the ``with`` block.

    The OS releases the lock when the process dies, so a crash leaves no stale lock.
    The holder deletes the lock file before releasing it; a waiter that then gets the
    lock on the deleted file sees that the path now names another file (or none) and
    tries again, so two processes never both hold it."""
    waited = False
    while True:
        try:
            f = open(lock_path, "a+b")
        except OSError as error:
            raise DownloadError(f"cannot write in {os.path.dirname(lock_path) or '.'} "
                                f"({error}); choose a writable folder") from None
        try:
            if not _try_lock(f):
                if not waited:
                    report(f"waiting for another download of {lock_path[:-5]} to finish")
                    waited = True
                _lock(f)
            if _same_file(f, lock_path):
                break
        except BaseException:
            f.close()
            raise
        f.close()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock_path)
        f.close()                                  # closing the file releases the lock


def _same_file(f, path):
    try:
        return os.path.samestat(os.fstat(f.fileno()), os.stat(path))
    except OSError:
        return False


try:
    import fcntl

    def _try_lock(f):
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _lock(f):
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
except ImportError:                                # Windows
    import msvcrt

    def _try_lock(f):
        try:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _lock(f):
        while not _try_lock(f):
            time.sleep(0.1)
