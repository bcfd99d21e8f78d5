"""Atomic writes: a failed run never leaves a partial artifact behind.

Everything the project writes (prepared datasets, run directories, logs, stores) is first
written under a temporary name in the destination's own folder, then renamed into place, which
is atomic on POSIX file systems when both names live on the same file system.

The temporary names are private while they are written (`tempfile` creates them 0700/0600),
but what is renamed into place carries the permissions any `open`/`mkdir` would have given it
under the process umask (typically 0755/0644, or 0775/0664 under umask 002), so a serving
account or another worker can read what a training account wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_dir(path, *, overwrite=True, kind=None, force=False):
    """Yield a temporary folder that replaces `path` only if the block succeeds.

    Args:
        path: str or Path. The folder to create.
        overwrite: bool. Replace an existing folder. Defaults to `True`.
        kind: str or `None`. What the folder is (`"dataset"`, `"run"`, `"store"`, `"compare"`):
            the folder gets that artifact marker, and an existing `path` is replaced only if it
            is empty or an artifact of the same kind (`hiertcn_keras.artifacts.output_guard`), checked
            both before and after the block. `None`: no marker, no check. Defaults to `None`.
        force: bool. With `kind`, replace an existing folder whatever it holds (the
            `--overwrite` flag). Defaults to `False`.

    Example:

    >>> with atomic_dir(tmp / "prepared") as out:          # doctest: +SKIP
    ...     (out / "stats.json").write_text("{}")
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if kind is not None:
        from hiertcn_keras.artifacts import output_guard

        output_guard.check_output(path, kind, overwrite=force, flag="output")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        if kind is not None:
            output_guard.write_marker(tmp, kind)
            if path.exists():  # whatever appeared there meanwhile is checked again
                output_guard.check_output(path, kind, overwrite=force, flag="output")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path, mode="w"):
    """Yield a file object whose content replaces `path` only if the block succeeds.

    Args:
        path: str or Path. The file to write.
        mode: str. `"w"` (text) or `"wb"` (binary). Defaults to `"w"`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def current_umask():
    """The process umask, read without changing it where Linux tells it (`/proc/self/status`).

    Returns:
        int, e.g. `0o022`.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Write a file through `write(tmp_path)` under a temporary name beside `path`, then rename.

    For writers that want a path rather than a file object (`pyarrow.parquet.write_table`,
    `DataFrame.to_parquet`, `Model.save`). The temporary name starts with a dot (hidden from
    Spark's and pyarrow's dataset readers) and ends with the suffix of `path` (Keras checks
    it); a retried task replaces the file whole, and a failed write leaves nothing behind.

    Args:
        path: str or Path. The file to write; its folder is created if needed.
        write: callable taking the temporary `Path` and writing the whole file there.

    Returns:
        Path of the written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_json(path, obj):
    """Write `obj` as indented JSON to `path`, atomically."""
    with atomic_file(path) as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=_json_default)
        f.write("\n")


def _json_default(value):
    # NumPy scalars and arrays appear in statistics; JSON has no type for them.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
