"""The one chunked file checksum: stores, model files, run directories and downloads.

Files are read in chunks, so hashing a 10 GB embedding matrix never holds it in memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 8 << 20


def file_digests(paths, algorithms=("sha256",), *, chunk=CHUNK_BYTES):
    """Hex digests of the concatenated bytes of one or more files.

    Args:
        paths: str, Path or a sequence of them. Files hashed one after the other, as if
            concatenated.
        algorithms: tuple of str. `hashlib` names. Defaults to `("sha256",)`.
        chunk: int. Bytes read at a time. Defaults to 8 MiB.

    Returns:
        dict algorithm → hex digest.

    Example:

    >>> file_digests("model.keras", ("sha256", "md5"))              # doctest: +SKIP
    {'sha256': '…', 'md5': '…'}
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    digests = {name: hashlib.new(name) for name in algorithms}
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                for digest in digests.values():
                    digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def sha256_file(*paths, chunk=CHUNK_BYTES):
    """sha256 hex digest of one file (or of several, concatenated in order).

    Args:
        *paths: str or Path. The files.
        chunk: int. Bytes read at a time. Defaults to 8 MiB.

    Returns:
        str, 64 hex characters.
    """
    return file_digests(list(paths), ("sha256",), chunk=chunk)["sha256"]
