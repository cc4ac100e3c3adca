"""The downloader against an HTTP server started here on 127.0.0.1 (no network needed).

The server can cut a connection half way, ignore Range or If-Range, send no validator,
serve endlessly, hold a response until told, and serve one content as different gzip
bytes from two mirrors. Each test names the fault it plays and what must follow."""
import gzip
import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
import zlib

import numpy as np
import pytest

from minicnn.data import DownloadError, download, load_cifar10, load_mnist
from minicnn.data import datasets

# Compressible content, so that gzip writes real deflate codes (random bytes would be
# stored as is): mixing two encoders' bytes then breaks decompression, as in the field.
CONTENT = np.random.default_rng(0).integers(0, 16, 300_000, dtype=np.uint8).tobytes()
GZ = gzip.compress(CONTENT, 9)
GZ_OTHER = gzip.compress(CONTENT, 1)       # another mirror: same content, other bytes
MD5 = hashlib.md5(CONTENT).hexdigest()


def etag(body):
    return '"' + hashlib.md5(body).hexdigest()[:16] + '"'


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files``; the sets and dicts below switch faults on per path."""
    files = {}             # path -> bytes
    cut = {}               # path -> how many more responses stop half way (-1: all)
    no_range = set()       # paths that ignore Range (always send everything, 200)
    no_if_range = set()    # paths that honour Range but ignore If-Range
    no_validator = set()   # paths sent without ETag
    endless = set()        # paths that stream bytes with no length (stopped at 4 MB)
    held = set()           # paths whose body waits, after half, until `release` is set
    release = threading.Event()
    log = []               # (path, Range header, If-Range header)

    def do_GET(self):
        self.log.append((self.path, self.headers.get("Range"), self.headers.get("If-Range")))
        if len(self.log) > 1:
            Handler.release.set()            # a second request never waits for the first
        if self.path in self.endless:
            self.send_response(200)
            self.end_headers()
            for _ in range(64):              # "endless": far past any cap the tests set
                self.wfile.write(bytes(1 << 16))
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        range_header, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        honour = range_header and self.path not in self.no_range and (
            if_range is None or if_range == etag(body) or self.path in self.no_if_range)
        if honour:
            start = int(range_header.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        if self.path not in self.no_validator:
            self.send_header("ETag", etag(body))
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        half = start + (len(body) - start) // 2
        if self.cut.get(self.path, 0):
            self.cut[self.path] -= 1
            self.wfile.write(body[start:half])
            self.wfile.flush()
            self.connection.shutdown(2)      # the connection dies mid-file
            return
        if self.path in self.held:
            self.wfile.write(body[start:half])
            self.wfile.flush()
            self.release.wait(10)
            start = half
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.files, Handler.cut, Handler.log = {}, {}, []
    Handler.no_range, Handler.no_if_range, Handler.no_validator = set(), set(), set()
    Handler.endless, Handler.held, Handler.release = set(), set(), threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def leave_part(dest, data, url=None, validator=None):
    """A .part file (and its record) as an interrupted earlier run leaves them."""
    with open(f"{dest}.part", "wb") as f:
        f.write(data)
    if url is not None:
        with open(f"{dest}.part.json", "w") as f:
            json.dump({"url": url, "validator": validator}, f)


# --- the happy paths --------------------------------------------------------------------

def test_good_file_is_verified_on_its_decompressed_content(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    dest = tmp_path / "sub" / "f.gz"
    assert download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True) == str(dest)
    assert dest.read_bytes() == GZ and os.listdir(tmp_path / "sub") == ["f.gz"]


def test_a_cut_connection_is_resumed_from_the_same_url_with_its_validator(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    Handler.cut["/f.gz"] = 1
    dest = tmp_path / "f.gz"
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ and os.listdir(tmp_path) == ["f.gz"]
    assert Handler.log == [("/f.gz", None, None),
                           ("/f.gz", f"bytes={len(GZ) // 2}-", etag(GZ))]    # only the rest


def test_a_server_ignoring_range_makes_the_download_restart(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    Handler.cut["/f.gz"] = 1
    Handler.no_range.add("/f.gz")
    dest = tmp_path / "f.gz"
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ                  # not the first half twice
    assert Handler.log[1][1] is not None            # it asked; the server sent everything


def test_a_part_file_left_by_an_earlier_run_is_continued(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    dest = tmp_path / "f.gz"
    leave_part(dest, GZ[:1000], server + "/f.gz", etag(GZ))
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ
    assert Handler.log == [("/f.gz", "bytes=1000-", etag(GZ))]


def test_an_existing_good_file_is_kept_and_a_bad_one_downloaded_again(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    dest = tmp_path / "f.gz"
    dest.write_bytes(GZ_OTHER)                      # right content: no request at all
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ_OTHER and Handler.log == []
    dest.write_bytes(gzip.compress(b"something else"))
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ and len(Handler.log) == 1


# --- resuming only what can be trusted ------------------------------------------------

def test_a_cut_download_is_not_resumed_from_another_mirror(server, tmp_path):
    # Field report: mirror a cut, mirror b (other gzip bytes) continued a's part file,
    # and decompressing the mix raised zlib.error: invalid distance code.
    Handler.files["/a/f.gz"], Handler.files["/b/f.gz"] = GZ, GZ_OTHER
    Handler.cut["/a/f.gz"] = -1                      # mirror a always cuts
    dest = tmp_path / "f.gz"
    download([server + "/a/f.gz", server + "/b/f.gz"], dest, md5=MD5, gunzip_md5=True,
             retries=1)
    assert dest.read_bytes() == GZ_OTHER and os.listdir(tmp_path) == ["f.gz"]
    assert [entry for entry in Handler.log if entry[0] == "/b/f.gz"] == [("/b/f.gz", None, None)]


def test_a_part_file_from_another_mirror_is_started_over(server, tmp_path):
    # ... and every later --download trusted the left-over part file and failed the same way.
    Handler.files["/b/f.gz"] = GZ_OTHER             # mirror a is gone now
    dest = tmp_path / "f.gz"
    leave_part(dest, GZ[:len(GZ) // 2], server + "/a/f.gz", etag(GZ))
    download([server + "/a/f.gz", server + "/b/f.gz"], dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ_OTHER
    assert Handler.log[-1] == ("/b/f.gz", None, None)


def test_a_part_file_with_no_record_of_its_source_is_started_over(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    dest = tmp_path / "f.gz"
    leave_part(dest, GZ_OTHER[:1000])               # left by an older minicnn: no .json
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ and Handler.log == [("/f.gz", None, None)]


def test_a_server_without_a_validator_is_never_resumed(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    Handler.cut["/f.gz"] = 1
    Handler.no_validator.add("/f.gz")
    dest = tmp_path / "f.gz"
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ
    assert [entry[1] for entry in Handler.log] == [None, None]   # no Range: from zero


def test_a_changed_file_is_not_resumed_even_if_the_server_ignores_if_range(server, tmp_path):
    new = gzip.compress(CONTENT[::-1], 9)
    Handler.files["/f.gz"] = new                    # the file changed since the cut
    Handler.no_if_range.add("/f.gz")                # and the server answers 206 anyway
    dest = tmp_path / "f.gz"
    leave_part(dest, GZ[:1000], server + "/f.gz", etag(GZ))
    download(server + "/f.gz", dest, md5=hashlib.md5(CONTENT[::-1]).hexdigest(),
             gunzip_md5=True)
    assert dest.read_bytes() == new
    assert Handler.log == [("/f.gz", "bytes=1000-", etag(GZ)), ("/f.gz", None, None)]


# --- wrong bytes ------------------------------------------------------------------------

def test_a_checksum_mismatch_after_resuming_retries_the_same_mirror_from_zero(server, tmp_path):
    # CIFAR-10 has one mirror: moving on to "the next mirror" meant failing outright.
    Handler.files["/f.gz"] = GZ
    dest = tmp_path / "f.gz"
    leave_part(dest, GZ_OTHER[:len(GZ) // 2], server + "/f.gz", etag(GZ))   # wrong bytes
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ and os.listdir(tmp_path) == ["f.gz"]
    assert Handler.log == [("/f.gz", f"bytes={len(GZ) // 2}-", etag(GZ)), ("/f.gz", None, None)]


def test_wrong_bytes_are_retried_then_the_next_mirror_and_the_error_says_it_all(server,
                                                                              tmp_path):
    wrong = gzip.compress(CONTENT[:-1] + b"x")
    Handler.files["/a/f.gz"] = wrong
    dest = tmp_path / "f.gz"
    with pytest.raises(DownloadError) as caught:
        download([server + "/missing/f.gz", server + "/a/f.gz"], dest, md5=MD5,
                 gunzip_md5=True)
    message = str(caught.value)
    got = hashlib.md5(CONTENT[:-1] + b"x").hexdigest()
    assert message.startswith("could not download f.gz:")
    assert f"{server}/missing/f.gz: HTTP Error 404" in message
    assert f"{server}/a/f.gz: f.gz has the wrong checksum (MD5 {got}, expected {MD5})" in message
    assert os.listdir(tmp_path) == []
    assert [entry[0] for entry in Handler.log] == ["/missing/f.gz", "/a/f.gz", "/a/f.gz"]
    Handler.files["/b/f.gz"] = GZ
    Handler.log.clear()
    download([server + "/a/f.gz", server + "/b/f.gz"], dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ
    assert [entry[0] for entry in Handler.log] == ["/a/f.gz", "/a/f.gz", "/b/f.gz"]


def test_data_that_does_not_decompress_is_reported_and_removed(server, tmp_path):
    broken = GZ[:len(GZ) // 2] + GZ_OTHER[len(GZ) // 2:]
    with pytest.raises(zlib.error):
        gzip.decompress(broken)                     # what used to escape uncaught
    Handler.files["/f.gz"] = broken
    dest = tmp_path / "f.gz"
    with pytest.raises(DownloadError, match=r"/f.gz: f.gz is not valid gzip data \(Error -3"):
        download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert os.listdir(tmp_path) == []


# --- too much -----------------------------------------------------------------------------

def test_an_endless_server_is_cut_off_at_the_cap(server, tmp_path):
    Handler.endless.add("/f.gz")
    dest = tmp_path / "f.gz"
    with pytest.raises(DownloadError, match="sent more than 200000 bytes"):
        download(server + "/f.gz", dest, max_bytes=200_000)
    assert os.listdir(tmp_path) == [] and len(Handler.log) == 1    # not retried


def test_a_file_announcing_more_than_its_known_size_is_refused(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    with pytest.raises(DownloadError, match=f"announces {len(GZ)} bytes; the file has 1000"):
        download(server + "/f.gz", tmp_path / "f.gz", size=1000)
    assert os.listdir(tmp_path) == [] and len(Handler.log) == 1


def test_content_that_decompresses_past_the_cap_is_refused(server, tmp_path):
    Handler.files["/f.gz"] = gzip.compress(bytes(1_000_000))    # 1 MB from 1 kB
    with pytest.raises(DownloadError, match="holds more than 100000 bytes once decompressed"):
        download(server + "/f.gz", tmp_path / "f.gz", md5=MD5, gunzip_md5=True,
                 max_bytes=100_000)
    assert os.listdir(tmp_path) == []


# --- two at once --------------------------------------------------------------------------

def test_two_downloads_of_one_file_at_once_do_not_collide(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    Handler.held.add("/f.gz")                        # the first download stops half way ...
    dest = tmp_path / "f.gz"
    results = {}

    def run(name, report=None):
        try:
            results[name] = download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True,
                                     report=report)
        except Exception as error:                   # noqa: BLE001 -- reported below
            results[name] = error

    first = threading.Thread(target=run, args=("first",))
    first.start()
    while not Handler.log and first.is_alive():      # ... until the second one waits
        first.join(0.01)
    second = threading.Thread(target=run, args=(
        "second", lambda text: "waiting" in text and Handler.release.set()))
    second.start()
    first.join(20)
    second.join(20)
    assert results == {"first": str(dest), "second": str(dest)}
    assert dest.read_bytes() == GZ and os.listdir(tmp_path) == ["f.gz"]
    assert len(Handler.log) == 1                     # the second found the finished file


def test_no_mirror_works_names_the_file_and_where_to_put_it(server, tmp_path):
    with pytest.raises(DownloadError, match=r"(?s)could not download f.gz:.*404.*"
                                            r"by hand from .*/nope/f.gz and put it at"):
        download([server + "/nope/f.gz"], tmp_path / "f.gz", md5=MD5)


# --- the data sets' entry points ------------------------------------------------------

def test_load_mnist_downloads_missing_files_from_mirrors(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    raw = {"train-images-idx3-ubyte": (rng.integers(0, 256, (3, 28, 28)), 3),
           "train-labels-idx1-ubyte": (rng.integers(0, 10, 3), 1),
           "t10k-images-idx3-ubyte": (rng.integers(0, 256, (2, 28, 28)), 3),
           "t10k-labels-idx1-ubyte": (rng.integers(0, 10, 2), 1)}
    spec = dict(datasets.SPECS["mnist"], mirrors=[server + "/dead/", server + "/m/"], md5={})
    for name, (array, dims) in raw.items():
        data = (bytes([0, 0, 8, dims]) + np.array(array.shape, ">u4").tobytes()
                + array.astype(np.uint8).tobytes())
        Handler.files[f"/m/{name}.gz"] = gzip.compress(data)
        spec["md5"][name] = hashlib.md5(data).hexdigest()
    monkeypatch.setitem(datasets.SPECS, "mnist", spec)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    (x, y), (xt, yt) = load_mnist(download=True)
    assert x.shape == (3, 1, 28, 28) and len(yt) == 2
    assert sorted(os.listdir(tmp_path / "cache" / "minicnn" / "mnist")) == sorted(
        n + ".gz" for n in raw)


def cifar_archive(labels, extra=()):
    """A small CIFAR-10 binary archive: 4 records per batch, every label ``labels``.
    ``extra``: more (TarInfo, bytes or None) members, added first."""
    rng = np.random.default_rng(2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            records = rng.integers(0, 16, (4, 3073), dtype=np.uint8)
            records[:, 0] = labels
            data = records.tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def cifar_home(server, tmp_path, monkeypatch):
    """An empty data folder; the CIFAR-10 spec points at the test server."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setitem(datasets.CIFAR, "mirrors", [server + "/kriz/"])
    home = tmp_path / "data"
    home.mkdir()
    return home


def serve_cifar(archive, monkeypatch):
    Handler.files["/kriz/cifar-10-binary.tar.gz"] = archive
    monkeypatch.setitem(datasets.CIFAR["bin"], "md5", hashlib.md5(archive).hexdigest())
    monkeypatch.setitem(datasets.CIFAR["bin"], "bytes", len(archive))


def test_load_cifar10_downloads_verifies_and_extracts_the_archive(cifar_home, monkeypatch):
    # load_cifar10's flag `download` used to shadow the download function: 'bool' object
    # is not callable.
    serve_cifar(cifar_archive(labels=5), monkeypatch)
    (x, y), (xt, yt) = load_cifar10(cifar_home, download=True, train_batches=[1, 2])
    assert x.shape == (8, 3, 32, 32) and set(y) == {5} and len(yt) == 4
    assert sorted(os.listdir(cifar_home)) == ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]
    assert sorted(os.listdir(cifar_home / "cifar-10-batches-bin")) == sorted(
        [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"])


def test_a_cifar_archive_already_on_disk_is_verified_before_it_is_extracted(cifar_home,
                                                                           monkeypatch):
    serve_cifar(cifar_archive(labels=3), monkeypatch)
    (cifar_home / "cifar-10-binary.tar.gz").write_bytes(cifar_archive(labels=7))   # not it
    (x, y), (xt, yt) = load_cifar10(cifar_home, download=True, train_batches=[1])
    assert x.shape == (4, 3, 32, 32) and set(y) == {3} and set(yt) == {3}
    assert len(Handler.log) == 1                    # the bad archive was fetched again


def test_a_cifar_archive_that_does_not_decompress_is_reported_and_deleted(cifar_home,
                                                                         monkeypatch):
    good, other = cifar_archive(labels=3), cifar_archive(labels=4)
    broken = good[:len(good) // 2] + other[len(good) // 2:]
    serve_cifar(broken, monkeypatch)                # its checksum is right, its data is not
    with pytest.raises(DownloadError, match=r"cifar-10-binary.tar.gz: not a usable CIFAR-10 "
                                            r"archive .*download it again"):
        load_cifar10(cifar_home, download=True, train_batches=[1])
    assert [p for p in cifar_home.rglob("*") if not p.is_dir()] == []   # none half-extracted


@pytest.mark.parametrize("name, kind", [("cifar-10-batches-bin/data_batch_1.bin", tarfile.SYMTYPE),
                                        ("../escaped.bin", tarfile.REGTYPE),
                                        ("/tmp/escaped.bin", tarfile.REGTYPE),
                                        ("cifar-10-batches-bin/x", tarfile.LNKTYPE)])
def test_cifar_extraction_refuses_links_and_paths_outside_its_folder(cifar_home, monkeypatch,
                                                                    name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    data = None
    if kind == tarfile.REGTYPE:
        data = b"not yours"
        info.size = len(data)
    else:
        info.linkname = str(cifar_home.parent / "outside.bin")
    serve_cifar(cifar_archive(labels=3, extra=[(info, data)]), monkeypatch)
    with pytest.raises(DownloadError, match=f"member '{name}'"):
        load_cifar10(cifar_home, download=True, train_batches=[1])
    assert os.listdir(cifar_home.parent) == ["data"]
    assert not os.path.lexists(cifar_home / "cifar-10-batches-bin" / "data_batch_1.bin")
