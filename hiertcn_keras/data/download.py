"""Download public datasets that have a stable URL, verified by checksum.

Only MovieLens has such URLs (GroupLens, files.grouplens.org). The Globo.com clicks need a
Kaggle account (dataset `gspmoreira/news-portal-user-interactions-by-globocom`) and XING's
RecSys Challenge 2016 data is no longer distributed: get those by hand and point the loaders
at them.

The MD5 checksums are the ones GroupLens publishes next to each archive (`ml-100k.zip.md5`,
`ml-1m.zip.md5`); the SHA-256 values are the same archives' digests as pinned by several
independent projects. `ml-latest-small` is a moving release with no published checksum, so it
is stored as `None` and `download` refuses to trust it unless `verify=False` is passed.

A download streams into a temporary file in the destination folder, is verified, and only then
renamed into place, so a failed or corrupted download never leaves a file that looks finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from hiertcn_keras.artifacts.atomic import atomic_file
from hiertcn_keras.artifacts.hashing import file_digests

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A downloadable dataset.

    Args:
        url: str. Where the file is served.
        filename: str. Name the file is saved under.
        sha256: str or `None`. Expected SHA-256 hex digest.
        md5: str or `None`. Expected MD5 hex digest (as published by the provider).
        size: int or `None`. Expected size in bytes.
        extract: str or `None`. For a zip: the folder it unpacks to; `None` keeps the file.
    """

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    extract: str | None = None

    @property
    def verifiable(self):
        return self.sha256 is not None or self.md5 is not None


DATASETS = {
    "ml-100k": Dataset(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        filename="ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        md5="0e33842e24a9c977be4e0107933c0723",
        size=4_924_029,
        extract="ml-100k",
    ),
    "ml-1m": Dataset(
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        filename="ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        md5="c4d9eecfca2ab87c1945afe126590906",
        size=5_917_549,
        extract="ml-1m",
    ),
    # A moving release: GroupLens publishes no checksum for it.
    "ml-latest-small": Dataset(
        url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        filename="ml-latest-small.zip",
        extract="ml-latest-small",
    ),
}


def download(name, dest_dir, *, force=False, verify=True):
    """Download (and unpack) a registered dataset into `dest_dir`.

    Args:
        name: str. A key of `DATASETS` (e.g. `"ml-100k"`).
        dest_dir: str or Path. Folder to download into (created if needed).
        force: bool. Download and unpack again even if the result exists. Defaults to `False`.
        verify: bool. Check the archive against its registered checksum and refuse a dataset
            that has none. `verify=False` trusts whatever the URL serves. Defaults to `True`.

    Returns:
        Path of the unpacked folder (or of the file when it is not an archive).

    Example:

    >>> folder = download("ml-100k", "data/raw")          # doctest: +SKIP
    >>> log = load_movielens(folder)                       # doctest: +SKIP
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    dataset = DATASETS[name]
    if verify and not dataset.verifiable:
        raise ValueError(
            f"{name}: no published checksum for {dataset.url}, so the download cannot be "
            "verified; pass verify=False to trust it anyway")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / dataset.filename
    target = archive if dataset.extract is None else dest_dir / dataset.extract
    if target.exists() and not force:
        return target
    if force or not archive.exists():
        checks = dict(sha256=dataset.sha256, md5=dataset.md5, size=dataset.size) if verify else {}
        fetch_url(dataset.url, archive, **checks)
    elif verify:
        _verify(archive, dataset.url, sha256=dataset.sha256, md5=dataset.md5, size=dataset.size)
    if dataset.extract is not None:
        _extract(archive, dataset.extract, dest_dir, url=dataset.url)
    return target


def fetch_url(url, dest, *, sha256=None, md5=None, size=None):
    """Stream `url` to `dest`, verifying it before it appears under that name.

    Args:
        url: str. Any URL `urllib` opens (`https://`, `http://`, `file://`).
        dest: str or Path. The file to write.
        sha256: str or `None`. Expected SHA-256 hex digest. Defaults to `None` (not checked).
        md5: str or `None`. Expected MD5 hex digest. Defaults to `None` (not checked).
        size: int or `None`. Expected size in bytes. Defaults to `None` (not checked).

    Returns:
        Path of the verified file.

    Raises:
        OSError: the URL cannot be read.
        ValueError: the content does not match a given checksum or size (nothing is left
            behind).
    """
    dest = Path(dest)
    digests = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    n_bytes = 0
    with atomic_file(dest, mode="wb") as out:  # a failed or mismatching download leaves nothing
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    n_bytes += len(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
        except (urllib.error.URLError, OSError) as error:
            raise OSError(f"cannot download {url}: {error}") from error
        _compare(url, {"sha256": sha256, "md5": md5, "size": size},
                 {name: d.hexdigest() for name, d in digests.items()} | {"size": n_bytes})
    return dest


def _verify(path, url, *, sha256, md5, size):
    _compare(url, {"sha256": sha256, "md5": md5, "size": size},
             file_digests(path, ("sha256", "md5"), chunk=_CHUNK) | {"size": path.stat().st_size}, local=path)


def _compare(url, expected, actual, local=None):
    for name, want in expected.items():
        if want is None:
            continue
        got = actual[name]
        if (got.lower() != want.lower()) if isinstance(want, str) else got != want:
            where = f"{local} (downloaded from {url})" if local else url
            raise ValueError(f"{where}: {name} mismatch: expected {want}, got {got}")


def _extract(archive, folder, dest_dir, *, url):
    """Unpack `archive` (which must hold `folder/`) and move `folder` into `dest_dir`."""
    target = dest_dir / folder
    with tempfile.TemporaryDirectory(prefix=f".{folder}.unpack-", dir=dest_dir) as tmp:
        try:
            with zipfile.ZipFile(archive) as zf:
                # `extractall` strips absolute paths and `..`, so members stay under `tmp`.
                zf.extractall(tmp)
        except zipfile.BadZipFile as error:
            raise ValueError(f"{archive} (from {url}) is not a valid zip: {error}") from None
        unpacked = Path(tmp) / folder
        if not unpacked.is_dir():
            raise ValueError(f"{archive} (from {url}) does not hold the folder {folder!r}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target
