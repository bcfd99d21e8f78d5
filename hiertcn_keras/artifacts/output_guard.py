"""Which folders a command may replace: our own artifacts, never a user's files or its inputs.

Every folder the project writes whole (a prepared dataset, a run directory, an embedding store,
a `compare` folder) carries a small marker file, `.hiertcn-artifact`, naming its kind:

    {"kind": "dataset", "marker_version": 1}

An output folder that already exists is replaced only when

- it is empty, or
- it is an artifact of the same kind: it has the marker, or it is recognised by its files as
  one written by an earlier release (e.g. exactly `events.parquet`, `items.parquet`,
  `users.parquet`, `stats.json`, `config.json`), and holds nothing we did not write, or
- the caller passes `overwrite=True` (the `--overwrite` flag).

Some outputs are refused even with `overwrite`: a regular file where a folder is to go, a
folder that is, contains or lies inside one of the command's inputs, and a run directory that
holds a serving user store (`serving/users.sqlite`, where an earlier release kept the state of
every served user).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

MARKER = ".hiertcn-artifact"
MARKER_VERSION = 1
KINDS = ("dataset", "run", "store", "compare")

# What each kind of folder may hold (besides the marker): anything else is a user's file.
_ENTRIES = {
    "dataset": {"events.parquet", "events", "items.parquet", "users.parquet", "stats.json",
                "config.json", "cointeraction", "cointeraction.json"},
    "run": {"model.keras", "config.json", "history.json", "metrics.json", "logs"},
    "store": {"embeddings.bin", "ids.parquet", "manifest.json", "shards"},
    "compare": {"table.json", "table.md"},
}
# Where an earlier release kept the serving user store: inside the run directory.
USER_STORE_DIR = "serving"


class OutputError(ValueError):
    """An output path that must not be written (the CLI reports it as `hiertcn VERB: error:`)."""


def write_marker(folder, kind):
    """Mark `folder` as an artifact of `kind` (one of `KINDS`).

    Args:
        folder: str or Path. An existing folder (usually the temporary one being written).
        kind: str.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    # Written into the folder being built (itself renamed into place whole): no temp file needed.
    (Path(folder) / MARKER).write_text(json.dumps({"kind": kind, "marker_version": MARKER_VERSION}) + "\n")


def artifact_kind(folder):
    """The kind of artifact `folder` is: its marker's, else recognised by its files, else `None`.

    Args:
        folder: str or Path.

    Returns:
        str (one of `KINDS`) or `None`.
    """
    folder = Path(folder)
    marker = folder / MARKER
    if marker.is_file():
        try:
            kind = json.loads(marker.read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            return None
        return kind if kind in KINDS else None
    return _legacy_kind(folder)


def _legacy_kind(folder):
    """Recognise a folder written before markers existed, by its files."""
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return None
    if {"events.parquet", "items.parquet", "users.parquet", "config.json"} <= names or (
            {"events", "items.parquet", "users.parquet", "config.json"} <= names):
        if names <= _ENTRIES["dataset"] and "prepare" in _read_json(folder / "config.json"):
            return "dataset"
    if {"model.keras", "config.json"} <= names and names <= _ENTRIES["run"] | {USER_STORE_DIR}:
        return "run"
    if "manifest.json" in names and names <= _ENTRIES["store"]:
        if _read_json(folder / "manifest.json").get("format") == "hiertcn-embedding-store":
            return "store"
    if names & _ENTRIES["compare"] and all(
            name in _ENTRIES["compare"] or _is_run_or_partial(folder / name) for name in names):
        return "compare"
    return None


def _is_run_or_partial(path):
    if path.name.endswith(".partial") and path.is_dir():
        return True
    return path.is_dir() and artifact_kind(path) == "run"


def _read_json(path):
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _foreign_entries(folder, kind):
    """Entries of an artifact folder that the project did not write there."""
    allowed = _ENTRIES[kind] | {MARKER}
    foreign = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name in allowed:
            continue
        if kind == "run" and entry.name == USER_STORE_DIR:
            continue  # reported on its own
        if kind == "compare" and (_is_run_or_partial(entry) or _is_compare_part(entry)):
            continue
        foreign.append(entry.name)
    return foreign


def _is_compare_part(path):
    """A folder `compare --tune`/`--refit` writes beside its runs: `MODEL-tune` (a search, with its
    `trials.json`) or `refit-data` (the train + validation dataset)."""
    if not path.is_dir():
        return False
    if path.name.endswith("-tune"):
        return (path / "trials.json").is_file()
    return path.name == "refit-data" and artifact_kind(path) == "dataset"


def user_store_in(folder):
    """The serving user-store files inside a run folder (an earlier release's default place).

    Returns:
        list of Path (empty when there is none).
    """
    serving = Path(folder) / USER_STORE_DIR
    if not serving.is_dir():
        return []
    return sorted(p for p in serving.iterdir() if p.name.startswith("users.sqlite") or p.suffix == ".sqlite")


def check_output(path, kind, *, inputs=(), overwrite=False, flag="--out"):
    """Refuse an output folder that must not be replaced, before any work is done.

    Args:
        path: str or Path. The folder the command will write (replacing it if it exists).
        kind: str. One of `KINDS`: what will be written there.
        inputs: iterable of str or Path (`None` entries ignored). The command's inputs; the
            output may not be, contain or lie inside any of them.
        overwrite: bool. Replace an existing folder that is not an artifact of `kind`.
            Defaults to `False`.
        flag: str. How the command line names the output, for messages. Defaults to `"--out"`.

    Raises:
        OutputError: the folder must not be written; the message says why and what to do.
    """
    path = Path(path)
    check_not_input(path, inputs, flag=flag)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise OutputError(f"{flag} {path}: is a file, not a folder; choose another name "
                              "(files are never replaced by a folder)")
        check_replaceable(path, kind, overwrite=overwrite, flag=flag)
    check_writable(path, flag=flag)


def check_replaceable(path, kind, *, overwrite=False, flag="--out"):
    """Refuse to replace an existing folder unless it is ours (of `kind`) or `overwrite` is set.

    Args:
        path: Path. An existing folder.
        kind: str. One of `KINDS`.
        overwrite: bool. Replace it whatever it holds (a user store still refuses).
        flag: str. For messages.

    Raises:
        OutputError.
    """
    path = Path(path)
    stores = user_store_in(path)
    if stores:
        raise OutputError(
            f"{flag} {path}: holds a serving user store ({', '.join(str(p) for p in stores)}), the "
            "state of every served user; move it elsewhere (serve --store sqlite:PATH) or delete it "
            "first. It is not replaced, even with --overwrite")
    if overwrite:
        return
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return
    found = artifact_kind(path)
    if found == kind:
        foreign = _foreign_entries(path, kind)
        if not foreign:
            return
        raise OutputError(
            f"{flag} {path}: this {kind} folder also holds files hiertcn did not write "
            f"({_few(foreign)}); they would be deleted. Move them, or pass --overwrite to replace "
            "the folder anyway")
    what = f"a {found} folder, not a {kind}" if found else f"not a {kind} written by hiertcn"
    raise OutputError(
        f"{flag} {path}: exists and is {what} (it holds {_few(entries)}); it would be replaced "
        "whole. Choose another folder, or pass --overwrite to replace it")


def check_not_input(path, inputs, *, flag="--out"):
    """Refuse an output that is, contains or lies inside one of the command's inputs.

    Args:
        path: str or Path.
        inputs: iterable of str or Path (`None` entries ignored).
        flag: str. For messages.

    Raises:
        OutputError.
    """
    out = _resolved(path)
    for given in inputs:
        if given is None:
            continue
        source = _resolved(given)
        if out == source:
            relation = "is"
        elif out in source.parents:
            relation = "contains"
        elif source in out.parents:
            relation = "is inside"
        else:
            continue
        raise OutputError(f"{flag} {path}: {relation} the input {given}; writing it would destroy "
                          "the input. Choose an output outside the inputs")


def check_writable(path, *, flag="--out"):
    """Refuse an output whose nearest existing folder cannot be written, before any work.

    Raises:
        OutputError.
    """
    path = Path(path)
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{flag} {path}: {parent} is a file, so no folder can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: cannot write in {parent} (permission denied)")
    try:  # the permission bits do not tell everything (read-only mounts, /proc, quotas, root)
        os.rmdir(tempfile.mkdtemp(prefix=".hiertcn-write-test-", dir=parent))
    except OSError as error:
        raise OutputError(f"{flag} {path}: cannot write in {parent}: {error.strerror or error}") from None


def _resolved(path):
    return Path(os.path.abspath(Path(path).expanduser())).resolve(strict=False)


def _few(names, k=5):
    shown = ", ".join(names[:k])
    return shown + (f" and {len(names) - k} more" if len(names) > k else "")


def check_output_file(path, *, ours=None, inputs=(), overwrite=False, flag="--out"):
    """Refuse an output file that would replace a folder, an input, or a file we did not write.

    Args:
        path: str or Path. The file the command will write.
        ours: str, Path or `None`. A file whose presence shows `path` was written by us (e.g.
            the parameters file `hiertcn synth` writes beside its log). `None`: any existing
            file needs `overwrite`.
        inputs: iterable of paths the command reads.
        overwrite: bool. Replace an existing file even if it is not ours. Defaults to `False`.
        flag: str. For messages.

    Raises:
        OutputError.
    """
    path = Path(path)
    check_not_input(path, inputs, flag=flag)
    if path.is_dir():
        raise OutputError(f"{flag} {path}: is a folder; a file is needed here")
    if path.exists() and not overwrite and not (ours is not None and Path(ours).is_file()):
        raise OutputError(f"{flag} {path}: exists and was not written by hiertcn; choose another name, or "
                          "pass --overwrite to replace it")
    check_writable(path, flag=flag)
