"""Share of padding in HierTCN's training batches under each batch layout (NumPy only, no model).

On one epoch's queue plan of a prepared dataset (the training split, the seeded shuffle of
epoch 0, S = `--slots` session slots per row), for each batch size: the positions a step
computes on and the share of them that are padding, for

- the `[B, S, L]` slots (`SessionTable`, L = the data's longest session);
- (a) each batch padded to its own longest session and session count;
- (b) each queue's sessions end to end in its own row: at the exact width, and at the widths
  of `session_packing.ROW_BUCKETS`;
- the batch's sessions spread over the rows (`PackedSessionTable`, what HierTCN trains on).

    python benchmarks/bench_session_padding.py --data prepared --batch-sizes 8 16 64
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.data.session_packing import PackedSessionTable, row_width
from hiertcn_keras.data.tensors import SessionTable


def padding_shares(sessions, batch_size, slots):
    """One row of the table: padding shares and shape counts of every layout."""
    length = (sessions.items > 0).sum(axis=1)
    plan = QueueBatcher(sessions, batch_size, slots, shuffle=True, seed=0).plan(0)
    lens = length[np.where(plan < 0, sessions.n_units, plan)]  # [n, B, S]
    events = int(lens.sum())
    n, cap = len(plan), slots * sessions.max_len
    per_batch = lens.max(axis=(1, 2)) * (lens > 0).sum(axis=2).max(axis=1)
    row_max = lens.sum(axis=2).max(axis=1)
    ladder = np.array([row_width(int(m), cap) for m in row_max])
    packed = PackedSessionTable(sessions, slots)
    widths = np.array([packed.gather(index)["items"].shape[1] for index in plan])
    share = lambda positions: 1 - events / positions  # noqa: E731
    return {
        "batch_size": batch_size, "batches": n, "events": events,
        "padded": share(n * batch_size * cap),
        "per_batch": share(batch_size * int(per_batch.sum())),
        "per_batch_shapes": len(set(zip(lens.max(axis=(1, 2)), (lens > 0).sum(axis=2).max(axis=1)))),
        "queue_rows_exact": share(batch_size * int(row_max.sum())),
        "queue_rows": share(batch_size * int(ladder.sum())), "queue_rows_shapes": len(set(ladder)),
        "spread": share(batch_size * int(widths.sum())),
        "spread_widths": {int(w): int(c) for w, c in zip(*np.unique(widths, return_counts=True))},
        "spread_positions": float(batch_size * widths.mean()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 64])
    parser.add_argument("--slots", type=int, default=10, help="S, session slots per row (default 10)")
    args = parser.parse_args(argv)
    started = time.process_time()
    dataset = PreparedDataset(args.data)
    view = dataset.view("train")
    sessions = SessionTable.from_view(view, dataset.max_session_len)
    print(f"{len(view):,} training events, {sessions.n_units:,} sessions, L = {sessions.max_len}, S = {args.slots}")
    print("| B | [B, S, L] slots | (a) per-batch S, L (shapes) | (b) queue rows: exact / ladder (shapes) | "
          "sessions spread over the rows (widths: batches) | positions per step, spread |")
    print("|---:|---:|---:|---:|---:|---:|")
    for batch_size in args.batch_sizes:
        r = padding_shares(sessions, batch_size, args.slots)
        print(f"| {batch_size} | {r['padded']:.1%} | {r['per_batch']:.1%} ({r['per_batch_shapes']}) | "
              f"{r['queue_rows_exact']:.1%} / {r['queue_rows']:.1%} ({r['queue_rows_shapes']}) | "
              f"{r['spread']:.1%} ({r['spread_widths']}) | {r['spread_positions']:,.0f} of "
              f"{batch_size * args.slots * sessions.max_len:,} |", flush=True)
    print(f"{time.process_time() - started:.0f} CPU-s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
