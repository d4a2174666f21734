"""``get_file``: download once into Keras' cache folder, verify a checksum, extract archives.

The cache is Keras' own (``$KERAS_HOME`` or ``~/.keras``, subfolder ``datasets``), so files
Keras downloaded are found, and files downloaded here are found by Keras.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["get_file", "hash_file", "keras_home", "validate_file"]

_CHUNK = 1 << 16


def keras_home() -> str:
    """Keras' base folder: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when the home
    folder is not writable), read at each call."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def _hasher(algorithm: str, file_hash: str | None = None) -> Any:
    if algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(
            f'`hash_algorithm` must be "auto", "sha256" or "md5". Received: {algorithm!r}'
        )
    if algorithm == "sha256" or (
        algorithm == "auto" and file_hash is not None and len(file_hash) == 64
    ):
        return hashlib.sha256()
    return hashlib.md5()


def _algorithm_name(algorithm: str, file_hash: str) -> str:
    return _hasher(algorithm, file_hash).name


def hash_file(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """The hex digest of a file (``"sha256"`` or ``"md5"``), read in chunks."""
    hasher = _hasher(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            hasher.update(chunk)
    return str(hasher.hexdigest())


def validate_file(path: str | os.PathLike[str], file_hash: str, algorithm: str = "auto") -> bool:
    """Whether the file's digest is ``file_hash`` (``"auto"``: sha256 for 64 hex digits,
    else md5)."""
    return hash_file(path, _algorithm_name(algorithm, file_hash)) == str(file_hash).lower()


def _download(origin: str, target: str, file_hash: str | None, algorithm: str) -> None:
    """Streams ``origin`` into a temporary file next to ``target``; checks the digest before
    the file takes its name, so a bad download never sits in the cache."""
    print(f"Downloading data from {origin}")
    folder = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(target) + ".", suffix=".part", dir=folder)
    hasher = _hasher(algorithm, file_hash)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(origin) as response:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        hasher.update(chunk)
                        out.write(chunk)
            except urllib.error.HTTPError as exc:
                raise OSError(f"URL fetch failure on {origin}: {exc.code} -- {exc.msg}") from exc
            except urllib.error.URLError as exc:
                raise OSError(f"URL fetch failure on {origin}: {exc.reason}") from exc
        if file_hash is not None and hasher.hexdigest() != str(file_hash).lower():
            raise ValueError(
                f"Incomplete or corrupted file downloaded from {origin}: its {hasher.name} "
                f"hash is {hasher.hexdigest()}, expected {file_hash}. The file was not kept."
            )
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _formats(archive_format: Any) -> list[str]:
    if archive_format is None:
        return []
    if archive_format == "auto":
        return ["tar", "zip"]
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    for name in archive_format:
        if name not in ("tar", "zip"):
            raise ValueError(
                f'`archive_format` must be "auto", "tar", "zip", a list of them or None. '
                f"Received: {archive_format!r}"
            )
    return list(archive_format)


def _extract(archive: str, folder: str, archive_format: Any) -> bool:
    """Extracts a tar or zip archive into ``folder``; members that would land outside it
    (absolute paths, ``..``, links out) are refused."""
    for name in _formats(archive_format):
        if name == "tar" and tarfile.is_tarfile(archive):
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(folder, filter="data")
            except (tarfile.TarError, OSError):
                shutil.rmtree(folder, ignore_errors=True)
                raise
            return True
        if name == "zip" and zipfile.is_zipfile(archive):
            root = Path(folder).resolve()
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise ValueError(
                            f"Refusing to extract {member!r} from {archive}: it points outside "
                            f"{folder}."
                        )
                zf.extractall(folder)
            return True
    return False


def get_file(
    fname: str | os.PathLike[str] | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: Any = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
) -> str:
    """Downloads ``origin`` into the cache unless it is there already; returns its path.

    Keras' ``keras.utils.get_file``: the file goes to ``cache_dir/cache_subdir/fname``
    (``cache_dir`` defaults to ``$KERAS_HOME`` or ``~/.keras``). A cached file is checked
    against ``file_hash`` and downloaded again when it does not match. A download is
    checked before it takes its name: a wrong digest raises and leaves no file behind.

    Args:
        fname: File name in the cache (no folders: use ``cache_subdir``); defaults to the
            last part of ``origin``'s path.
        origin: The URL.
        untar: Deprecated spelling of ``extract=True`` with a tar archive.
        md5_hash: Deprecated: an md5 ``file_hash``.
        file_hash: The expected sha256 (64 hex digits) or md5 digest; `None` skips the check.
        cache_subdir: Subfolder of ``cache_dir``; an absolute path is used as is.
        hash_algorithm: `"auto"` (sha256 for 64 hex digits, else md5), `"sha256"`, `"md5"`.
        extract: Extract the downloaded tar or zip archive and return the folder.
        archive_format: `"auto"` (tar then zip), `"tar"`, `"zip"`, a list, or None.
        cache_dir: The cache's base folder.
        force_download: Download even when the file is cached.

    Returns:
        The file's path, or the extraction folder with ``extract=True``.

    Raises:
        ValueError: no ``origin``, an ``fname`` with folders, an unknown ``hash_algorithm``
            or ``archive_format``, or a download whose digest is not ``file_hash``.
        OSError: when the download fails.
    """
    if not origin:
        raise ValueError("`origin` is required: the URL of the file to download.")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    _hasher(hash_algorithm, file_hash)  # reject a bad algorithm before any work
    base = os.path.expanduser(os.fspath(cache_dir) if cache_dir is not None else keras_home())
    if not os.access(base, os.W_OK) and os.path.exists(base):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    folder = os.path.join(base, cache_subdir)
    os.makedirs(folder, exist_ok=True)
    given = os.fspath(fname) if fname is not None else ""
    name = given or os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ValueError(f"Cannot take a file name from origin {origin!r}: pass `fname`.")
    if os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(
            "`fname` must be a file name without folders (use `cache_dir` and "
            f"`cache_subdir` for the folder). Received: fname={given!r}"
        )
    extracting = bool(extract or untar)
    if extracting and given and "." in name:
        target = os.path.join(folder, name)
        extraction = os.path.join(folder, name[: name.find(".")] + "_extracted")
    elif extracting:
        extraction = os.path.join(folder, name)
        target = os.path.join(folder, name + "_archive")
    else:
        target = os.path.join(folder, name)
    download = force_download or not os.path.exists(target)
    if (
        not download
        and file_hash is not None
        and not validate_file(target, file_hash, hash_algorithm)
    ):
        algorithm = _algorithm_name(hash_algorithm, file_hash)
        print(
            f"A local file was found at {target}, but its {algorithm} hash does not match "
            f"{file_hash}: downloading it again."
        )
        download = True
    if download:
        _download(origin, target, file_hash, hash_algorithm)
    if extracting:
        if not _extract(target, extraction, "tar" if untar else archive_format):
            raise ValueError(f"{target} is not a {archive_format!r} archive; cannot extract it.")
        return extraction
    return target
