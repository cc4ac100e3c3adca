"""The downloader against an HTTP server started here on 127.0.0.1 (no network needed):
a good file, a wrong checksum, a connection cut mid-file (resumed with Range, or
restarted when the server ignores Range), a dead mirror, and a resumed .part file."""
import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from minicnn.data import DownloadError, download, load_mnist
from minicnn.data import datasets

CONTENT = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
GZ = gzip.compress(CONTENT)
MD5 = hashlib.md5(CONTENT).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    files = {}            # path -> bytes
    cut_first = set()     # paths whose first response stops half way
    no_range = set()      # paths that ignore Range (always send everything)
    log = []              # (path, Range header)

    def do_GET(self):
        self.log.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        range_header = self.headers.get("Range")
        if range_header and self.path not in self.no_range:
            start = int(range_header.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in self.cut_first:
            self.cut_first.discard(self.path)
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)          # the connection dies mid-file
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.files, Handler.cut_first, Handler.no_range, Handler.log = {}, set(), set(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_good_file_is_verified_on_its_decompressed_content(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    dest = tmp_path / "sub" / "f.gz"
    assert download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True) == str(dest)
    assert dest.read_bytes() == GZ and os.listdir(tmp_path / "sub") == ["f.gz"]


def test_wrong_checksum_leaves_nothing_and_falls_back_to_the_next_mirror(server, tmp_path):
    Handler.files["/a/f.gz"] = gzip.compress(CONTENT[:-1] + b"x")
    dest = tmp_path / "f.gz"
    with pytest.raises(DownloadError, match=r"f.gz:\n .*checksum mismatch .*expected " + MD5):
        download([server + "/a/f.gz"], dest, md5=MD5, gunzip_md5=True)
    assert os.listdir(tmp_path) == []
    Handler.files["/b/f.gz"] = GZ
    download([server + "/missing/f.gz", server + "/a/f.gz", server + "/b/f.gz"], dest, md5=MD5,
             gunzip_md5=True)
    assert dest.read_bytes() == GZ


def test_a_cut_connection_is_resumed_with_a_range_request(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    Handler.cut_first.add("/f.gz")
    dest = tmp_path / "f.gz"
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ
    assert Handler.log[0] == ("/f.gz", None)
    assert Handler.log[1] == ("/f.gz", f"bytes={len(GZ) // 2}-")     # only the rest


def test_a_server_ignoring_range_makes_the_download_restart(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    Handler.cut_first.add("/f.gz")
    Handler.no_range.add("/f.gz")
    dest = tmp_path / "f.gz"
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ                  # not the first half twice
    assert Handler.log[1][1] is not None            # it asked; the server sent everything


def test_a_part_file_left_by_an_earlier_run_is_continued(server, tmp_path):
    Handler.files["/f.gz"] = GZ
    dest = tmp_path / "f.gz"
    (tmp_path / "f.gz.part").write_bytes(GZ[:1000])
    download(server + "/f.gz", dest, md5=MD5, gunzip_md5=True)
    assert dest.read_bytes() == GZ and Handler.log == [("/f.gz", "bytes=1000-")]


def test_no_mirror_works_names_the_file_and_where_to_put_it(server, tmp_path):
    with pytest.raises(DownloadError, match=r"(?s)could not download f.gz:.*404.*by hand from .*/nope/f.gz and put it at"):
        download([server + "/nope/f.gz"], tmp_path / "f.gz", md5=MD5)


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
