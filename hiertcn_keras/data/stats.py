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
    n_events = int(len(prepared.item))
    n_sessions = int(prepared.session[-1]) + 1 if n_events else 0
    session_len = np.bincount(prepared.session) if n_events else np.zeros(0, np.int64)
    if n_events:
        first_of_session = np.ones(n_events, dtype=bool)
        first_of_session[1:] = prepared.session[1:] != prepared.session[:-1]
        sessions_per_user = np.bincount(prepared.user[first_of_session])[1:]
        events_per_user = np.bincount(prepared.user)[1:]
    else:
        sessions_per_user = events_per_user = np.zeros(0, np.int64)
    per_split = {}
    for code, name in enumerate(splits.SPLITS):
        mask = prepared.split == code
        in_catalogue = prepared.item[mask] <= prepared.n_catalogue
        per_split[name] = {
            "events": int(mask.sum()),
            "users": int(np.count_nonzero(np.bincount(prepared.user[mask]))),
            "scored_targets": int(in_catalogue.sum()),
            "unseen_targets": int((~in_catalogue).sum()),
        }
    total_dropped = int(sum(dropped.values()))
    if n_events + total_dropped != n_rows_read:
        raise AssertionError(
            f"event accounting is off: {n_events} kept + {total_dropped} dropped != {n_rows_read} read"
        )
    return {
        "n_rows_read": int(n_rows_read),
        "n_events": n_events,
        "n_users": int(len(prepared.user_ids)),
        "n_items": int(len(prepared.item_ids)),
        "n_catalogue": int(prepared.n_catalogue),
        "n_sessions": n_sessions,
        "dropped": {k: int(v) for k, v in dropped.items()},
        "session_length": distribution(session_len),
        "sessions_per_user": distribution(sessions_per_user, histogram_max=50),
        "events_per_user": distribution(events_per_user, histogram_max=0),
        "splits": per_split,
        "protocol": prepared.config.protocol,
        "split_cuts": None if cuts is None else [float(c) for c in cuts],
        "time_range": [float(prepared.timestamp.min()), float(prepared.timestamp.max())]
        if n_events
        else None,
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
