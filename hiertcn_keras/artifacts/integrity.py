"""Per-file checksums of a prepared dataset: recorded when it is written, checked when it is read.

`prepare` (both engines) records the size and sha256 of every file it writes (except
`config.json`, which holds the record, and the artifact marker) under `files` in
`config.json`:

    "files": {"events.parquet": {"size": 1048576, "sha256": "9f86d0..."}, ...}

`PreparedDataset` checks them on every load, so a flipped bit, a truncated copy or a file
replaced by hand is refused with the damaged file named, instead of loading different numbers.
Hashing runs at about 1-2 GB/s on a current CPU, far below the cost of decoding the Parquet
files themselves (docs/safety.md has the measurement).
"""

from __future__ import annotations

from pathlib import Path

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.hashing import sha256_file

# Not checked when a dataset is loaded: read (and checked) only by the tools that use them.
_OPTIONAL_DIRS = ("cointeraction",)


def file_records(folder, *, exclude=("config.json",)):
    """Size and sha256 of every file under `folder`, by relative path (sorted).

    Args:
        folder: str or Path.
        exclude: names (relative paths) to leave out; hidden files are always left out.

    Returns:
        dict: relative path (with `/`) → `{"size": int, "sha256": str}`.
    """
    folder = Path(folder)
    records = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or rel in exclude or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        records[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    return records


def verify_files(folder, records):
    """Check a dataset's files against the sizes and hashes recorded at write time.

    Args:
        folder: str or Path. The prepared dataset folder.
        records: dict, as returned by `file_records`.

    Raises:
        DataError: naming the first missing, resized or changed file.
    """
    folder = Path(folder)
    for rel, record in records.items():
        if rel.split("/", 1)[0] in _OPTIONAL_DIRS:
            continue
        path = folder / rel
        if not path.is_file():
            raise DataError("file is missing (it was written by `prepare`); prepare the data again",
                            path=path)
        size = path.stat().st_size
        if size != record["size"]:
            raise DataError(f"file is damaged: {size} bytes, {record['size']} when it was written; "
                            "prepare the data again (or restore the file)", path=path)
        actual = sha256_file(path)
        if actual != record["sha256"]:
            raise DataError(f"file is damaged: its sha256 is {actual[:16]}…, {record['sha256'][:16]}… "
                            "when it was written; prepare the data again (or restore the file)",
                            path=path)
