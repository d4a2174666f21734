"""get_file against a real HTTP server on a loopback port: cache, checksums, extraction."""

from __future__ import annotations

import hashlib
import http.server
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import pytest

from epochal.utils import get_file
from epochal.utils.file_utils import keras_home


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        type(self).hits.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    _Handler.hits = []

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(root), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_downloads_verifies_sha256_and_caches(server, tmp_path):
    root, url = server
    (root / "data.bin").write_bytes(b"hello epochal")
    digest = hashlib.sha256(b"hello epochal").hexdigest()
    cache = tmp_path / "cache"
    path = get_file("data.bin", f"{url}/data.bin", file_hash=digest, cache_dir=cache)
    assert Path(path) == cache / "datasets" / "data.bin"
    assert Path(path).read_bytes() == b"hello epochal"
    again = get_file("data.bin", f"{url}/data.bin", file_hash=digest, cache_dir=cache)
    assert again == path and _Handler.hits == ["/data.bin"]  # cached: one request only


def test_md5_and_fname_from_origin(server, tmp_path):
    root, url = server
    (root / "notes.txt").write_bytes(b"abc")
    path = get_file(origin=f"{url}/notes.txt", md5_hash=hashlib.md5(b"abc").hexdigest(),
                    cache_dir=tmp_path, cache_subdir="sub")  # fmt: skip
    assert Path(path) == tmp_path / "sub" / "notes.txt"


def test_a_bad_hash_raises_and_keeps_no_file(server, tmp_path):
    root, url = server
    (root / "data.bin").write_bytes(b"tampered")
    with pytest.raises(ValueError, match=r"sha256.*was not kept"):
        get_file("data.bin", f"{url}/data.bin", file_hash="0" * 64, cache_dir=tmp_path)
    assert list((tmp_path / "datasets").iterdir()) == []


def test_a_cached_file_with_a_wrong_hash_is_downloaded_again(server, tmp_path):
    root, url = server
    (root / "data.bin").write_bytes(b"fresh")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(b"stale")
    digest = hashlib.sha256(b"fresh").hexdigest()
    path = get_file("data.bin", f"{url}/data.bin", file_hash=digest, cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"fresh"


def test_http_errors_are_oserrors_naming_the_url(server, tmp_path):
    _, url = server
    with pytest.raises(OSError, match=r"URL fetch failure.*404"):
        get_file("missing.bin", f"{url}/missing.bin", cache_dir=tmp_path)
    assert not (tmp_path / "datasets" / "missing.bin").exists()


def test_extracts_tar_and_zip_archives(server, tmp_path):
    root, url = server
    (tmp_path / "payload.txt").write_text("inside")
    with tarfile.open(root / "pack.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "payload.txt", arcname="pack/payload.txt")
    with zipfile.ZipFile(root / "pack.zip", "w") as zf:
        zf.write(tmp_path / "payload.txt", arcname="payload.txt")
    folder = get_file("pack.tar.gz", f"{url}/pack.tar.gz", extract=True, cache_dir=tmp_path)
    assert Path(folder) == tmp_path / "datasets" / "pack_extracted"
    assert (Path(folder) / "pack" / "payload.txt").read_text() == "inside"
    folder = get_file("zipped", f"{url}/pack.zip", extract=True, cache_dir=tmp_path)
    assert (Path(folder) / "payload.txt").read_text() == "inside"
    assert (tmp_path / "datasets" / "zipped_archive").is_file()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="origin"):
        get_file("x")
    with pytest.raises(ValueError, match="without folders"):
        get_file("a/b.txt", "http://127.0.0.1:1/b.txt", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="hash_algorithm"):
        get_file("b.txt", "http://127.0.0.1:1/b.txt", hash_algorithm="sha1", cache_dir=tmp_path)


def test_keras_home_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_home() == str(tmp_path)
    monkeypatch.delenv("KERAS_HOME")
    assert keras_home().endswith(".keras")
