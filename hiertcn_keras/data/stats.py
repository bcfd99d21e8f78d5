"""Dataset statistics written to `stats.json` and printed by `hiertcn stats`."""

from __future__ import annotations

import numpy as np

from hiertcn_keras.data import splits


def distribution(values, histogram_max=None):
    """Summary of a positive integer distribution: mean, quantiles, max and a histogram.

    Args:
        values: int array.
        histogram_max: int or `None`. Values above it are pooled in one `">N"` bin.

    Returns:
        dict.
    """
    values = np.asarray(values)
    if len(values) == 0:
        return {"count": 0}
    q = np.quantile(values, [0.5, 0.9, 0.99])
    out = {
        "count": int(len(values)),
        "mean": round(float(values.mean()), 4),
        "min": int(values.min()),
        "p50": float(q[0]),
        "p90": float(q[1]),
        "p99": float(q[2]),
        "max": int(values.max()),
    }
    counts = np.bincount(values)
    top = len(counts) - 1 if histogram_max is None else min(histogram_max, len(counts) - 1)
    hist = {str(k): int(counts[k]) for k in range(1, top + 1) if counts[k]}
    if top < len(counts) - 1:
        hist[f">{top}"] = int(counts[top + 1 :].sum())
    out["histogram"] = hist
    return out


def compute_stats(prepared, *, n_rows_read, dropped, cuts, input_time_sorted, warnings, seconds):
    """Statistics of a `PreparedData` (see `hiertcn_keras.data.prepare`).

    Returns:
        dict with `n_rows_read`, `n_events`, `n_users`, `n_items`, `n_catalogue`,
        `n_sessions`, `dropped`, `session_length`, `sessions_per_user`, `events_per_user`,
        `splits` (events, users, scored targets, unseen targets per split), `time_range`,
        `split_cuts`, `protocol`, `input_time_sorted`, `warnings`, `prepare_seconds`.
    """
    summary = summarize(prepared.user, prepared.item, prepared.timestamp, prepared.session,
                        prepared.split, prepared.n_catalogue)
    return stats_from_summary(
        summary,
        n_users=len(prepared.user_ids),
        n_items=len(prepared.item_ids),
        n_catalogue=prepared.n_catalogue,
        protocol=prepared.config.protocol,
        n_rows_read=n_rows_read,
        dropped=dropped,
        cuts=cuts,
        input_time_sorted=input_time_sorted,
        warnings=warnings,
        seconds=seconds,
    )


def summarize(user, item, timestamp, session, split, n_catalogue):
    """Additive summary of the events of whole users: counts and integer histograms.

    Summaries of disjoint sets of whole users add up (`merge_summaries`) to the summary of all
    their events, so an engine that holds the events in parts (Spark) computes exactly the
    statistics of the single-array path.

    Args:
        user, item, timestamp, session, split: aligned arrays `[n]` sorted by (user, time),
            as in `PreparedData`; sessions contiguous.
        n_catalogue: int.

    Returns:
        dict of ints, floats and int64 histograms (`session_length`, `sessions_per_user`,
        `events_per_user`: counts per value).
    """
    n = int(len(item))
    empty = np.zeros(0, np.int64)
    out = {"n_events": n, "n_sessions": 0, "session_length": empty, "sessions_per_user": empty,
           "events_per_user": empty, "t_min": None, "t_max": None, "splits": {}}
    for code, name in enumerate(splits.SPLITS):
        mask = split == code
        in_catalogue = item[mask] <= n_catalogue
        out["splits"][name] = {
            "events": int(mask.sum()),
            "users": int(np.count_nonzero(np.bincount(user[mask]))) if mask.any() else 0,
            "scored_targets": int(in_catalogue.sum()),
            "unseen_targets": int((~in_catalogue).sum()),
        }
    if n == 0:
        return out
    first_of_session = np.ones(n, dtype=bool)
    first_of_session[1:] = session[1:] != session[:-1]
    first_of_user = np.ones(n, dtype=bool)
    first_of_user[1:] = user[1:] != user[:-1]
    session_len = np.diff(np.r_[np.flatnonzero(first_of_session), n])
    user_starts = np.flatnonzero(first_of_user)
    events_per_user = np.diff(np.r_[user_starts, n])
    sessions_per_user = np.add.reduceat(first_of_session.astype(np.int64), user_starts)
    out.update(
        n_sessions=int(first_of_session.sum()),
        session_length=np.bincount(session_len),
        sessions_per_user=np.bincount(sessions_per_user),
        events_per_user=np.bincount(events_per_user),
        t_min=float(timestamp.min()),
        t_max=float(timestamp.max()),
    )
    return out


def merge_summaries(summaries):
    """The summary of the union of disjoint sets of whole users (see `summarize`)."""
    summaries = list(summaries)
    out = {"n_events": 0, "n_sessions": 0, "t_min": None, "t_max": None,
           "splits": {name: {"events": 0, "users": 0, "scored_targets": 0, "unseen_targets": 0}
                      for name in splits.SPLITS}}
    for key in ("session_length", "sessions_per_user", "events_per_user"):
        size = max((len(s[key]) for s in summaries), default=0)
        total = np.zeros(size, np.int64)
        for s in summaries:
            total[: len(s[key])] += np.asarray(s[key], np.int64)
        out[key] = total
    for s in summaries:
        out["n_events"] += s["n_events"]
        out["n_sessions"] += s["n_sessions"]
        for name, counts in s["splits"].items():
            for k, v in counts.items():
                out["splits"][name][k] += v
        if s["t_min"] is not None:
            out["t_min"] = s["t_min"] if out["t_min"] is None else min(out["t_min"], s["t_min"])
            out["t_max"] = s["t_max"] if out["t_max"] is None else max(out["t_max"], s["t_max"])
    return out


def _from_histogram(counts):
    # The sorted values themselves, so `distribution` sees exactly the multiset the arrays hold
    # (quantiles, mean and histogram depend on nothing else).
    counts = np.asarray(counts, np.int64)
    dtype = np.min_scalar_type(max(len(counts) - 1, 0))
    return np.repeat(np.arange(len(counts), dtype=dtype), counts)


def stats_from_summary(summary, *, n_users, n_items, n_catalogue, protocol, n_rows_read, dropped,
                       cuts, input_time_sorted, warnings, seconds):
    """`stats.json` content from a (merged) `summarize` result; see `compute_stats`."""
    n_events = int(summary["n_events"])
    total_dropped = int(sum(dropped.values()))
    if n_events + total_dropped != n_rows_read:
        raise AssertionError(
            f"event accounting is off: {n_events} kept + {total_dropped} dropped != {n_rows_read} read"
        )
    return {
        "n_rows_read": int(n_rows_read),
        "n_events": n_events,
        "n_users": int(n_users),
        "n_items": int(n_items),
        "n_catalogue": int(n_catalogue),
        "n_sessions": int(summary["n_sessions"]),
        "dropped": {k: int(v) for k, v in dropped.items()},
        "session_length": distribution(_from_histogram(summary["session_length"])),
        "sessions_per_user": distribution(_from_histogram(summary["sessions_per_user"]), histogram_max=50),
        "events_per_user": distribution(_from_histogram(summary["events_per_user"]), histogram_max=0),
        "splits": {name: dict(counts) for name, counts in summary["splits"].items()},
        "protocol": protocol,
        "split_cuts": None if cuts is None else [float(c) for c in cuts],
        "time_range": [float(summary["t_min"]), float(summary["t_max"])] if n_events else None,
        "input_time_sorted": bool(input_time_sorted),
        "warnings": warnings,
        "prepare_seconds": round(float(seconds), 3),
    }


def format_stats(stats):
    """Render `stats.json` content as readable text for the terminal."""
    lines = []
    add = lines.append
    add(f"events      {stats['n_events']:>12,}   (rows read {stats['n_rows_read']:,})")
    add(f"users       {stats['n_users']:>12,}")
    add(f"items       {stats['n_items']:>12,}   (catalogue, seen in training: {stats['n_catalogue']:,})")
    add(f"sessions    {stats['n_sessions']:>12,}")
    add(f"protocol    {stats['protocol']:>12}")
    dropped = {k: v for k, v in stats["dropped"].items() if v}
    add("dropped     " + (", ".join(f"{k} {v:,}" for k, v in dropped.items()) if dropped else "nothing"))
    for key, title in (
        ("session_length", "session length"),
        ("sessions_per_user", "sessions/user"),
        ("events_per_user", "events/user"),
    ):
        d = stats[key]
        if d.get("count"):
            add(
                f"{title:<15} mean {d['mean']:.2f}  min {d['min']}  median {d['p50']:g}  "
                f"p90 {d['p90']:g}  p99 {d['p99']:g}  max {d['max']}"
            )
    hist = stats["session_length"].get("histogram", {})
    if hist:
        total = sum(hist.values())
        add("session length histogram:")
        for k, v in hist.items():
            add(f"  {k:>4} {v:>10,} {'#' * max(1, round(40 * v / total)) if v else ''}")
    add(f"{'split':<6} {'events':>12} {'users':>9} {'scored':>12} {'unseen':>9}")
    for name, s in stats["splits"].items():
        add(f"{name:<6} {s['events']:>12,} {s['users']:>9,} {s['scored_targets']:>12,} {s['unseen_targets']:>9,}")
    if stats.get("split_cuts"):
        add(f"time cuts   {stats['split_cuts'][0]:.0f}, {stats['split_cuts'][1]:.0f} (Unix s)")
    for warning in stats.get("warnings", []):
        add(f"warning: {warning}")
    return "\n".join(lines)
