"""`prepare`: a loaded raw log → the prepared dataset every model and baseline reads.

The steps run in this order; each counts what it removes under the reason in brackets, so
`n_events + sum(dropped) == rows read` always holds:

1. the loader (bad rows, only where the user asked to drop them: `bad_timestamp`, ...);
2. interaction types the user (or a preset) excludes [`event_type`];
3. sort by (user, timestamp, source row): equal timestamps keep their source order;
4. exact duplicates of (user, item, timestamp[, event type]) after the first [`duplicate`]
   (on by default; the XING preset keeps them, like the official code);
5. items with fewer than `min_item_support` events [`item_support`];
6. users with fewer than `min_user_events` [`user_too_few_events`] or more than
   `max_user_events` [`user_too_many_events`] events (counted after step 5, once, like the
   official code: the filters are not iterated to a fixed point);
7. sessionize by idle gap (a gap ≥ `session_gap` seconds starts a session), or by the source's
   session ids with `sessions="column"`;
8. optionally collapse consecutive repeats of an item within a session [`repeat`];
9. truncate every session to its first `max_session_len` events [`session_truncated`];
10. drop sessions shorter than `min_session_len` [`short_session`];
11. split (`temporal` time cuts or `paper` user split), then index users and items (0 reserved).

Validation and test targets whose item never occurs in training stay in the data as inputs but
are not scored; their number per split is in `stats.json` (`unseen_targets`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hiertcn_keras.artifacts import atomic, integrity, output_guard
from hiertcn_keras.artifacts.prepared import EVENT_COLUMNS, FORMAT_VERSION
from hiertcn_keras.artifacts.session_rules import SessionRules
from hiertcn_keras.data import filters, sessionize, splits, stats, vocabulary

DROP_REASONS = (
    "event_type",
    "duplicate",
    "item_support",
    "user_too_few_events",
    "user_too_many_events",
    "repeat",
    "session_truncated",
    "short_session",
)


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """Settings of `prepare`.

    Args:
        session_gap: float. Idle seconds that start a new session (`>=`). Defaults to 1800.
        max_session_len: int. Sessions are truncated to their first L events. Defaults to 20.
        sessions: str. `"gap"` (idle-gap rule) or `"column"` (the source's session ids).
            Defaults to `"gap"`.
        collapse_repeats: bool. Drop an event that repeats the previous item of its session.
            Defaults to `False`.
        drop_duplicates: bool. Drop exact duplicate events. Defaults to `True`.
        drop_event_types: tuple of str. Interaction types to exclude. Defaults to `()`.
        min_item_support: int. Minimum events per item. Defaults to 1.
        min_user_events: int. Minimum events per user. Defaults to 1.
        max_user_events: int or `None`. Maximum events per user. Defaults to `None`.
        min_session_len: int. Minimum events per session (after truncation). Defaults to 1.
        protocol: str. `"temporal"` or `"paper"`. Defaults to `"temporal"`.
        split_quantiles: pair of floats. Time quantiles of the temporal cuts. Defaults to
            `(0.8, 0.9)`.
        split_fractions: three floats. User fractions of the paper split. Defaults to
            `(0.8, 0.1, 0.1)`.
    """

    session_gap: float = 1800.0
    max_session_len: int = 20
    sessions: str = "gap"
    collapse_repeats: bool = False
    drop_duplicates: bool = True
    drop_event_types: tuple = ()
    min_item_support: int = 1
    min_user_events: int = 1
    max_user_events: int | None = None
    min_session_len: int = 1
    protocol: str = "temporal"
    split_quantiles: tuple = (0.8, 0.9)
    split_fractions: tuple = (0.8, 0.1, 0.1)

    def __post_init__(self):
        if not self.session_gap > 0:
            raise ValueError(f"session_gap must be > 0 seconds, got {self.session_gap}")
        if self.max_session_len < 1:
            raise ValueError(f"max_session_len must be ≥ 1, got {self.max_session_len}")
        if self.sessions not in ("gap", "column"):
            raise ValueError(f"sessions must be 'gap' or 'column', got {self.sessions!r}")
        if self.protocol not in splits.PROTOCOLS:
            raise ValueError(f"protocol must be one of {splits.PROTOCOLS}, got {self.protocol!r}")
        if self.min_item_support < 1 or self.min_user_events < 1 or self.min_session_len < 1:
            raise ValueError(
                "min_item_support, min_user_events and min_session_len must be ≥ 1, got "
                f"{self.min_item_support}, {self.min_user_events}, {self.min_session_len}"
            )
        if self.max_user_events is not None and self.max_user_events < self.min_user_events:
            raise ValueError(
                f"max_user_events ({self.max_user_events}) < min_user_events ({self.min_user_events})"
            )
        object.__setattr__(self, "drop_event_types", tuple(str(t) for t in self.drop_event_types))
        object.__setattr__(self, "split_quantiles", tuple(float(q) for q in self.split_quantiles))
        object.__setattr__(self, "split_fractions", tuple(float(f) for f in self.split_fractions))

    @property
    def session_rules(self):
        """The `SessionRules` part of these settings (recorded flat in `config.json["prepare"]`)."""
        return SessionRules(session_gap=self.session_gap, max_session_len=self.max_session_len,
                            collapse_repeats=self.collapse_repeats, drop_duplicates=self.drop_duplicates,
                            min_session_len=self.min_session_len)

    @classmethod
    def from_dict(cls, values):
        """Build a config from a dict, ignoring keys that are `None` and refusing unknown ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown prepare settings {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**{k: v for k, v in values.items() if v is not None})


@dataclasses.dataclass
class PreparedData:
    """The in-memory result of `prepare`, written to disk by `write`.

    Arrays are aligned, one entry per kept event, sorted by (user index, time, source row):
    `user` (int32, 1..n_users), `item` (int32, 1..n_items), `timestamp` (float64 s),
    `session` (int32 global session number, contiguous, ordered by user then time),
    `position` (int16, within its session) and `split` (int8: 0 train, 1 valid, 2 test).
    """

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    session: np.ndarray
    position: np.ndarray
    split: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_train_count: np.ndarray
    n_catalogue: int
    stats: dict
    config: PrepareConfig
    source: dict

    def write(self, out_dir, *, overwrite=False):
        """Write the dataset to `out_dir` atomically (a failed write leaves nothing behind).

        Args:
            out_dir: str or Path. The folder to write. An existing one is replaced only if it
                is empty or a prepared dataset (see `hiertcn_keras.artifacts.output_guard`), and never
                when it is, contains or lies inside the source log.
            overwrite: bool. Replace an existing folder whatever it holds. Defaults to `False`.
        """
        output_guard.check_not_input(out_dir, [self.source.get("path")])
        with atomic.atomic_dir(out_dir, kind="dataset", force=overwrite) as tmp:
            write_events(
                tmp / "events.parquet",
                {column: getattr(self, column) for column in EVENT_COLUMNS},
            )
            vocabulary.write_vocabulary(
                tmp / "items.parquet",
                self.item_ids,
                {
                    "train_count": self.item_train_count.astype(np.int64),
                    "in_catalogue": np.arange(1, len(self.item_ids) + 1) <= self.n_catalogue,
                },
            )
            vocabulary.write_vocabulary(tmp / "users.parquet", self.user_ids)
            atomic.write_json(tmp / "stats.json", self.stats)
            atomic.write_json(
                tmp / "config.json",
                config_record(self.config, self.source, self.n_catalogue, self.stats["fingerprint"],
                              files=integrity.file_records(tmp)),
            )


def config_record(config, source, n_catalogue, fingerprint, files=None):
    """The content of `config.json` (both engines write it through here).

    Args:
        config: `PrepareConfig`.
        source: dict. The source log's path, format, rows read and warnings.
        n_catalogue: int.
        fingerprint: str.
        files: dict or `None`. Size and sha256 of every other file of the dataset
            (`hiertcn_keras.artifacts.integrity.file_records`), checked on load.
    """
    record = {
        "format_version": FORMAT_VERSION,
        "prepare": dataclasses.asdict(config),
        "source": source,
        "n_catalogue": int(n_catalogue),
        "fingerprint": fingerprint,
    }
    if files is not None:
        record["files"] = files
    return record


def write_events(path, columns):
    """Write event columns (`EVENT_COLUMNS`, in `PreparedData` dtypes) to one Parquet file.

    Both engines write through here, so a part file of the Spark engine is encoded exactly like
    the pandas engine's `events.parquet`.

    Args:
        path: str or Path.
        columns: dict of column name → array `[n]`.
    """
    pq.write_table(
        pa.table({column: columns[column] for column in EVENT_COLUMNS}),
        path,
        compression="snappy",
        # Timestamps and session numbers are nearly unique: a dictionary only costs time
        # (and a third bigger file) before Parquet falls back to plain encoding.
        use_dictionary=["user", "item", "position", "split"],
    )


def prepare(log, config=None):
    """Turn a `LoadedLog` into sessions, splits and vocabularies.

    Args:
        log: `hiertcn_keras.data.loaders.LoadedLog`.
        config: `PrepareConfig` or `None` (defaults).

    Returns:
        `PreparedData`.
    """
    config = config or PrepareConfig()
    started = time.perf_counter()
    events = log.events
    dropped = {reason: 0 for reason in log.dropped}
    dropped.update(log.dropped)
    for reason in DROP_REASONS:
        dropped.setdefault(reason, 0)

    user_codes, user_names = pd.factorize(events["user"], sort=False)
    item_codes, item_names = pd.factorize(events["item"], sort=False)
    # Code users by their rank in id order from the start: sorting by this code then groups
    # events by the final user index, so no second sort is needed at the end.
    user_names = np.asarray(user_names, dtype=object)
    by_id = vocabulary.sorted_id_order(user_names)
    rank = np.empty(len(by_id), dtype=np.int64)
    rank[by_id] = np.arange(len(by_id))
    user_codes, user_names = rank[user_codes], user_names[by_id]
    item_codes = item_codes.astype(np.int64)
    timestamp = events["timestamp"].to_numpy(dtype=np.float64)
    row = events["row"].to_numpy(dtype=np.int64)
    input_time_sorted = bool(len(timestamp) < 2 or (np.diff(timestamp) >= 0).all())
    keep = np.ones(len(events), dtype=bool)

    # 2. Interaction types.
    etype = None
    if "event_type" in events.columns:
        etype_codes, etype_names = pd.factorize(events["event_type"], sort=False)
        etype = etype_codes.astype(np.int64)
        if config.drop_event_types:
            bad = np.isin(np.asarray(etype_names, dtype=object), list(config.drop_event_types))
            excluded = bad[etype]
            dropped["event_type"] += int(excluded.sum())
            keep &= ~excluded
    elif config.drop_event_types:
        raise ValueError(
            f"drop_event_types={config.drop_event_types} but the {log.format} log has no event type column"
        )

    # 3. Sort by (user, time, source row).
    idx = np.flatnonzero(keep)
    row_span = int(row.max()) + 1 if len(row) else 1
    in_row_order = len(row) < 2 or bool((np.diff(row) > 0).all())
    if input_time_sorted and in_row_order and len(user_names) * row_span < 2**63:
        # A log in time order: (user, time, row) order is (user, row) order, one argsort of a
        # unique int64 key (deterministic unstable sort), about twice as fast as lexsort.
        order = idx[np.argsort(user_codes[idx] * row_span + row[idx])]
    else:
        order = idx[np.lexsort((row[idx], timestamp[idx], user_codes[idx]))]
    u, it, t, r = user_codes[order], item_codes[order], timestamp[order], row[order]
    et = etype[order] if etype is not None else None
    sess_key = None
    if config.sessions == "column":
        if "session" not in events.columns:
            raise ValueError(f"sessions='column' but the {log.format} log has no session column")
        sess_key = pd.factorize(events["session"], sort=False)[0][order]

    # 4. Exact duplicates.
    if config.drop_duplicates and len(u) > 1:
        is_dup = duplicate_mask(u, it, t, et)
        if is_dup.any():
            dropped["duplicate"] += int(is_dup.sum())
            u, it, t, r = u[~is_dup], it[~is_dup], t[~is_dup], r[~is_dup]
            if sess_key is not None:
                sess_key = sess_key[~is_dup]

    def apply(mask, reason=None):
        nonlocal u, it, t, r, sess_key
        if reason is not None:
            dropped[reason] += int((~mask).sum())
        if mask.all():  # the usual case for most filters: no copies
            return
        u, it, t, r = u[mask], it[mask], t[mask], r[mask]
        if sess_key is not None:
            sess_key = sess_key[mask]

    # 5. Item support; 6. user activity.
    apply(filters.min_count_mask(it, config.min_item_support, len(item_names)), "item_support")
    too_few, too_many = filters.count_range_masks(
        u, config.min_user_events, config.max_user_events, len(user_names)
    )
    dropped["user_too_few_events"] += int(too_few.sum())
    dropped["user_too_many_events"] += int(too_many.sum())
    apply(~(too_few | too_many))

    # 7. Sessions; 8. repeats; 9. truncation; 10. short sessions.
    keep, starts, pos, removed_by = session_steps(u, it, t, config, session_key=sess_key)
    removed = np.bincount(removed_by, minlength=len(SESSION_DROP_REASONS) + 1)
    for k, reason in enumerate(SESSION_DROP_REASONS):
        dropped[reason] += int(removed[k + 1])
    apply(keep)
    sid = sessionize.session_ids(starts)

    # 11. Users indexed by sorted id; split; items indexed catalogue-first.
    # Users are coded in id order and events grouped by that code: index = rank among the
    # users still present (a lookup table, not np.unique + a re-sort).
    user_present = np.bincount(u, minlength=len(user_names)) > 0
    uidx = np.cumsum(user_present)[u]
    if config.protocol == "temporal":
        split, cuts = splits.temporal_split(t, config.split_quantiles)
    else:
        split, cuts = splits.user_split(uidx - 1, config.split_fractions), None
    # Items present → 0..k-1 in code order (what np.unique + searchsorted gave), by lookup.
    item_present = np.bincount(it, minlength=len(item_names)) > 0
    used_items = np.flatnonzero(item_present)
    local = (np.cumsum(item_present) - 1)[it]
    train_counts = np.bincount(local[split == splits.TRAIN], minlength=len(used_items))
    names = np.asarray(item_names, dtype=object)[used_items]
    order_items, n_catalogue = vocabulary.item_order(train_counts, names)
    item_index = np.empty(len(used_items), dtype=np.int64)
    item_index[order_items] = np.arange(1, len(used_items) + 1)
    iidx = item_index[local]

    user_ids = user_names[user_present].astype(str)
    item_ids = names[order_items].astype(str)
    prepared = PreparedData(
        user=uidx.astype(np.int32),
        item=iidx.astype(np.int32),
        timestamp=t,
        session=sid.astype(np.int32),
        position=pos.astype(np.int16),
        split=split.astype(np.int8),
        user_ids=user_ids,
        item_ids=item_ids,
        item_train_count=train_counts[order_items],
        n_catalogue=n_catalogue,
        stats={},
        config=config,
        source={
            "path": str(log.source),
            "format": log.format,
            "n_rows_read": int(log.n_rows),
            "warnings": list(log.warnings),
        },
    )
    prepared.stats = stats.compute_stats(
        prepared,
        n_rows_read=log.n_rows,
        dropped=dropped,
        cuts=cuts,
        input_time_sorted=input_time_sorted,
        warnings=list(log.warnings),
        seconds=time.perf_counter() - started,
    )
    # Files of a folder that held no rows (e.g. an hour without clicks): skipped, listed here.
    prepared.stats["empty_files"] = list(log.empty_files)
    prepared.stats["fingerprint"] = fingerprint(prepared)
    return prepared


def duplicate_mask(user, item, timestamp, event_type=None):
    """Step 4: exact duplicates of (user, item, timestamp[, event type]) after the first.

    Duplicates share (user, time), so only runs of equal (user, time) can hold them; those few
    candidates are checked with pandas instead of hashing every event.

    Args:
        user, item: int arrays `[n]`. Codes, sorted by (user, time, source row).
        timestamp: float array `[n]`.
        event_type: int array `[n]` or `None`. Interaction type codes.

    Returns:
        bool array `[n]`, `True` for every event that repeats an earlier one.
    """
    n = len(user)
    is_dup = np.zeros(n, dtype=bool)
    if n < 2:
        return is_dup
    same = np.zeros(n, dtype=bool)
    same[1:] = (user[1:] == user[:-1]) & (timestamp[1:] == timestamp[:-1])
    candidates = same.copy()
    candidates[:-1] |= same[1:]
    cand = np.flatnonzero(candidates)
    if len(cand):
        frame = {"u": user[cand], "i": item[cand], "t": timestamp[cand]}
        if event_type is not None:
            frame["e"] = event_type[cand]
        dup = pd.DataFrame(frame).duplicated(keep="first").to_numpy()
        is_dup[cand[dup]] = True
    return is_dup


SESSION_DROP_REASONS = ("repeat", "session_truncated", "short_session")


def session_steps(user, item, timestamp, config, session_key=None):
    """Steps 7–10: sessionize, collapse repeats, truncate, drop short sessions.

    Every step looks at one user's events only, so the events of any set of whole users can be
    processed alone (the Spark engine runs this per bucket of users).

    Args:
        user, item: int arrays `[n]`. Codes, sorted by (user, time, source row).
        timestamp: float array `[n]`.
        config: `PrepareConfig`.
        session_key: int array `[n]` or `None`. Source session codes (`sessions="column"`).

    Returns:
        `(keep, starts, position, removed_by)`: bool array `[n]` of the events kept; for the
        kept events, session-start flags and positions within the session; and int8 `[n]`:
        0 for kept events, else 1 + the index in `SESSION_DROP_REASONS` of the step that
        removed the event.
    """
    n = len(user)
    kept = np.arange(n)
    removed_by = np.zeros(n, dtype=np.int8)
    starts = sessionize.session_starts(user, timestamp, gap=config.session_gap, session_key=session_key)
    if config.collapse_repeats and n > 1:
        repeat = np.zeros(n, dtype=bool)
        repeat[1:] = ~starts[1:] & (item[1:] == item[:-1])
        if repeat.any():
            removed_by[repeat] = 1
            starts, kept = starts[~repeat], kept[~repeat]
    pos = sessionize.positions(starts)
    truncated = pos >= config.max_session_len
    if truncated.any():
        removed_by[kept[truncated]] = 2
        starts, pos, kept = starts[~truncated], pos[~truncated], kept[~truncated]
    if config.min_session_len > 1:
        short = filters.group_size(sessionize.session_ids(starts)) < config.min_session_len
        if short.any():
            removed_by[kept[short]] = 3
            starts, pos, kept = starts[~short], pos[~short], kept[~short]
    return removed_by == 0, starts, pos, removed_by


FINGERPRINT_COLUMNS = ("user", "item", "timestamp", "split")
FINGERPRINT_DTYPES = {"user": np.int32, "item": np.int32, "timestamp": np.float64, "split": np.int8}


def fingerprint(prepared):
    """A short content hash of the prepared events and vocabularies (hex, 16 chars).

    Sessions and positions follow from the events and the config, so the config is hashed
    instead of those arrays. SHA-256: the fastest of hashlib's hashes on CPUs with SHA
    instructions.
    """
    return fingerprint_chunks(
        lambda column: [getattr(prepared, column)], prepared.config, prepared.item_ids, prepared.user_ids
    )


def fingerprint_chunks(chunks, config, item_ids, user_ids):
    """`fingerprint` from the event columns given piece by piece (e.g. one part file at a time).

    The hash is that of each whole column in event order, so it depends on the content only,
    not on how the events are cut into parts.

    Args:
        chunks: callable. `chunks(column)` yields the arrays of `column` (`"user"`, `"item"`,
            `"timestamp"`, `"split"`) in event order; called once per column.
        config: `PrepareConfig`.
        item_ids, user_ids: arrays of str, in index order.

    Returns:
        str, 16 hex characters.
    """
    h = hashlib.sha256()
    for column in FINGERPRINT_COLUMNS:
        for array in chunks(column):
            h.update(np.ascontiguousarray(array, dtype=FINGERPRINT_DTYPES[column]).tobytes())
    h.update(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
    h.update(json.dumps([np.asarray(item_ids).tolist(), np.asarray(user_ids).tolist()]).encode())
    return h.hexdigest()[:16]
