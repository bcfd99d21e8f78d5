"""Benchmark the user-state record: the binary `UserState.encode`/`decode` against the JSON record it replaced.

A store reads and writes every user of a request once (`get_many`, `put_many`), so each event
pays a decode and an encode. Both formats are timed side by side in one process on the same
states (a 256-float context, an open session of `--session` items, timestamps and counters):
CPU microseconds per encode and per decode (the best of `--repeats` passes of `--n` calls),
and the ratio. The JSON record is written and read exactly as versions before the binary one did
(and as `UserState.decode` still reads it).

Usage:

    python benchmarks/bench_user_state.py
    python benchmarks/bench_user_state.py --session 20 --json runs/bench/user_state.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _common import emit_json, format_table, machine  # noqa: E402
from hiertcn_keras.serving.user_state import UserState  # noqa: E402


def json_encode(state):
    """The record as versions before the binary format wrote it: vector bytes and a JSON text."""
    meta = {"session": [int(i) for i in state.session], "last_timestamp": state.last_timestamp,
            "last_kept_timestamp": state.last_kept_timestamp, "previous_item": int(state.previous_item),
            "items_at_last_timestamp": [int(i) for i in state.items_at_last_timestamp],
            "n_events": int(state.n_events), "n_sessions": int(state.n_sessions)}
    return np.ascontiguousarray(state.context, dtype="<f4").tobytes(), json.dumps(meta, separators=(",", ":"))


def best_cpu_us(fn, n, repeats):
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - started)
    return 1e6 * best / n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--session", type=int, default=5, help="items in the open session")
    parser.add_argument("--n", type=int, default=20000, help="calls per pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    state = UserState(rng.normal(size=256).astype(np.float32), rng.integers(1, 10**6, args.session).tolist(),
                      1.7e9 + 12.5, 1.7e9 + 12.5, 42, [42], 37, 6)
    binary, text = state.encode(), json_encode(state)
    assert UserState.decode(*text).session == UserState.decode(*binary).session == state.session
    rows, record = [], {}
    formats = (("binary", state.encode, binary), ("JSON (before)", lambda: json_encode(state), text))
    for name, encode, encoded in formats:
        enc = best_cpu_us(encode, args.n, args.repeats)
        dec = best_cpu_us(lambda: UserState.decode(*encoded), args.n, args.repeats)
        record[name] = {"encode_us": round(enc, 2), "decode_us": round(dec, 2), "meta_bytes": len(encoded[1])}
        rows.append([name, f"{enc:.2f}", f"{dec:.2f}", f"{enc + dec:.2f}", len(encoded[1])])
    print(format_table(["record", "encode CPU µs", "decode CPU µs", "both", "meta bytes"], rows))
    new, old = record["binary"], record["JSON (before)"]
    ratio = (new["encode_us"] + new["decode_us"]) / (old["encode_us"] + old["decode_us"])
    print(f"binary ÷ JSON = {ratio:.2f}× the CPU per encode + decode ({1 / ratio:.1f}× cheaper)")
    emit_json({"benchmark": "user_state", "machine": machine(), "session": args.session, "results": record,
               "ratio": round(ratio, 3)}, args.json)


if __name__ == "__main__":
    main()
