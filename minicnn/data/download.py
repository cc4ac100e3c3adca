"""Fetch a file from the first mirror that works, verify it, and only then put it in place.

    download(["https://mirror-a/f.gz", "https://mirror-b/f.gz"], "data/mnist/f.gz",
             md5="...", gunzip_md5=True)

What happens, step by step:

1. The bytes go to ``<dest>.part``. If that file exists (an earlier run was cut off),
   the request asks for the rest (``Range: bytes=<size>-``); a server that answers 206
   continues the file, one that answers 200 sends it all and the part file restarts.
2. A connection that breaks mid-file is retried (``retries`` times per mirror), each
   retry resuming from what has arrived.
3. When the file is complete its MD5 is checked: of the decompressed bytes when
   ``gunzip_md5`` (the .gz wrappers of a data set differ between mirrors, the content
   does not). A wrong checksum deletes the part file and tries the next mirror.
4. Only a verified file is renamed to ``dest`` (``os.replace``: atomic), so ``dest``
   is never half-written.
"""
import gzip
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request

CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror gave a complete file with the right checksum."""


def md5_of(path, gunzip=False):
    """MD5 (hex) of a file's bytes, or of its decompressed bytes."""
    digest = hashlib.md5()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(urls, dest, md5=None, gunzip_md5=False, retries=3, timeout=30, report=None):
    """Download ``dest`` from the first of ``urls`` that works; returns ``dest``.

    md5          expected hex digest (None: no check)
    gunzip_md5   the digest is of the gunzipped content
    report       fn(text) for progress messages (e.g. print), or None
    """
    dest = os.fspath(dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + ".part"
    urls = [urls] if isinstance(urls, str) else list(urls)
    problems = []
    for url in urls:
        for attempt in range(retries + 1):
            try:
                _fetch(url, part, timeout, report)
            except (OSError, http.client.HTTPException) as error:
                problems.append(f"{url}: {error}")
                if isinstance(error, urllib.error.HTTPError) and error.code not in (408, 429, 500,
                                                                                    502, 503, 504):
                    break                          # 404 and the like: try the next mirror
                time.sleep(min(0.2 * attempt, 1.0))
                continue
            if md5 is not None:
                try:
                    got = md5_of(part, gunzip=gunzip_md5)
                except (OSError, EOFError) as error:
                    got = f"unreadable ({error})"
                if got != md5:
                    os.remove(part)
                    problems.append(f"{url}: checksum mismatch (MD5 {got}, expected {md5})")
                    break
            os.replace(part, dest)
            return dest
    raise DownloadError(f"could not download {os.path.basename(dest)}:\n  " + "\n  ".join(problems)
                        + f"\nDownload it by hand from one of {', '.join(urls)} and put it at {dest}")


def _fetch(url, part, timeout, report):
    """Append the missing bytes of ``url`` to ``part`` (or start it over); raise on a cut."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"User-Agent": "minicnn"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:             # we already have every byte
            return
        raise
    with response:
        resumed = response.status == 206 and response.headers.get(
            "Content-Range", "").startswith(f"bytes {have}-")
        if not resumed:
            have = 0                               # the server sends everything: start over
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None else None
        if report:
            report(f"downloading {url}" + (f" (resuming at {have} bytes)" if have else ""))
        with open(part, "ab" if resumed else "wb") as f:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
        size = os.path.getsize(part)
    if expected is not None and size != expected:
        raise ConnectionError(f"the connection closed after {size} of {expected} bytes")
