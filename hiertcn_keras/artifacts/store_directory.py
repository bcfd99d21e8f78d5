"""A directory of dated embedding stores: one store per period, a `LATEST` pointer, time lookup.

Layout (each sub-folder is an ordinary embedding store, `artifacts.embedding_store`):

    stores/
      2017-10-05T00/    manifest.json ("config": {"until": 1507161600.0, ...}), embeddings.bin, ids.parquet
      2017-10-06T00/
      LATEST            one line: the name of the current store ("2017-10-06T00")

A store is *stamped* with `until`: it was built from the events strictly before that time
(Unix seconds, UTC), recorded in its manifest's `config.until`. `LATEST` is replaced
atomically (written to a temporary file, then `os.replace`), so a reader sees the old name or
the new one, never a half-written file. `resolve(t)` gives the newest store stamped ≤ t: the
store a system running at time t would have had.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.store_format import MANIFEST_FILE, read_manifest

LATEST_FILE = "LATEST"
UNTIL_KEY = "until"
_NAME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}(?:[0-9]{2}(?:[0-9]{2})?)?$")


def parse_time(text):
    """Unix seconds (UTC) from `2017-10-05`, `2017-10-05T06`, `2017-10-05T06:30[:00]` or a number.

    Args:
        text: str or number. A date or date-time without a zone is read as UTC.

    Returns:
        float.
    """
    if isinstance(text, (int, float)):
        return float(text)
    text = str(text).strip()
    try:
        return float(text)
    except ValueError:
        pass
    candidate = re.sub(r"^(\d{4}-\d{2}-\d{2}T\d{2})$", r"\1:00", text.replace(" ", "T"))
    try:
        moment = dt.datetime.fromisoformat(candidate.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use 2017-10-05, 2017-10-05T06, 2017-10-05T06:30 or Unix "
                         "seconds)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def period_name(until):
    """The folder name of a store stamped `until`: `YYYY-MM-DDTHH` (UTC), plus minutes/seconds if any."""
    moment = dt.datetime.fromtimestamp(float(until), tz=dt.timezone.utc)
    name = moment.strftime("%Y-%m-%dT%H")
    if moment.second or moment.microsecond:
        return name + moment.strftime("%M%S")
    return name + moment.strftime("%M") if moment.minute else name


def format_time(until):
    """`until` as an ISO-8601 UTC string (for manifests and reports)."""
    return dt.datetime.fromtimestamp(float(until), tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def store_until(store_path):
    """The `until` stamp of a store folder (from its manifest), or `None` for an unstamped store."""
    config = read_manifest(Path(store_path)).get("config") or {}
    value = config.get(UNTIL_KEY)
    return None if value is None else float(value)


class StoreDirectory:
    """One dated embedding store per period under a root folder.

    Args:
        root: str or Path. The folder (created by `path_for`'s writer if missing).

    Example:

    >>> stores = StoreDirectory("stores")                    # doctest: +SKIP
    >>> write_store(stores.path_for(t), matrix, ids, config={"until": t})
    >>> stores.set_latest(stores.path_for(t))
    >>> stores.resolve(t + 3600)                             # the newest store stamped ≤ t + 1 h
    """

    def __init__(self, root):
        self.root = Path(root)

    def path_for(self, until):
        """The folder a store stamped `until` goes to."""
        return self.root / period_name(until)

    def stores(self):
        """Every complete dated store: a list of `(until, path)` sorted by `until`.

        Folders that are not dated stores (no manifest yet, a temporary folder, no stamp) are
        skipped; a store whose stamp disagrees with its folder name is an error.
        """
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            if not _NAME.match(path.name) or not (path / MANIFEST_FILE).is_file():
                continue
            until = store_until(path)
            if until is None:
                continue
            if period_name(until) != path.name:
                raise DataError(f"the store is stamped {format_time(until)} but its folder is named {path.name}",
                                path=path / MANIFEST_FILE, column=f"config.{UNTIL_KEY}")
            found.append((until, path))
        return sorted(found)

    def resolve(self, time):
        """The newest store stamped ≤ `time` (Unix seconds or a string for `parse_time`).

        Returns:
            `(until, path)`.

        Raises:
            LookupError: no store is stamped at or before `time`.
        """
        time = parse_time(time)
        best = None
        for until, path in self.stores():
            if until <= time:
                best = (until, path)
        if best is None:
            raise LookupError(f"{self.root}: no store stamped at or before {format_time(time)}")
        return best

    def latest(self):
        """The store `LATEST` names: `(until, path)`; without a `LATEST` file, the newest store.

        Raises:
            LookupError: the directory holds no dated store.
        """
        pointer = self.root / LATEST_FILE
        if pointer.is_file():
            name = pointer.read_text(encoding="utf-8").strip()
            path = self.root / name
            if not _NAME.match(name) or not (path / MANIFEST_FILE).is_file():
                raise DataError(f"names {name!r}, which is not a dated store in {self.root}", path=pointer)
            return store_until(path), path
        stores = self.stores()
        if not stores:
            raise LookupError(f"{self.root}: no dated store")
        return stores[-1]

    def set_latest(self, store_path):
        """Point `LATEST` at a store of this directory, atomically (temporary file, then `os.replace`)."""
        store_path = Path(store_path)
        if store_path.parent.resolve() != self.root.resolve() or not (store_path / MANIFEST_FILE).is_file():
            raise ValueError(f"{store_path} is not a store inside {self.root}")
        fd, tmp = tempfile.mkstemp(prefix=".LATEST.", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(store_path.name + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / LATEST_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
