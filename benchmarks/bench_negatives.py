"""Which sampled-softmax candidates learn most per CPU-second on a large catalogue.

On one prepared log (e.g. a quarter of `bench_real_scale.py`'s Globo-shaped log: 42,443 items),
HierTCN is trained once per variant of the sampled softmax's candidates for the same budget of
CPU-seconds of training steps (the process' own CPU time, compilation left out, as in
`bench_loss_crossover.py`), then scored on the validation split against the full catalogue.
Per variant: CPU and wall time per step, the steps and epochs the budget bought, and the
validation Recall@10 / MRR (at each `--checkpoints` CPU-second count too, for a curve).

A variant is a comma-separated list of `ModelConfig` settings:

    python benchmarks/bench_negatives.py --data quarter_prep --budget 180 \\
        --variant n_negatives=20 \\
        --variant n_negatives=1024,negative_distribution=popularity,in_batch_negatives=true

Every variant also gets `--common` (e.g. `last_item_residual=true`). Settings are compared on
validation, never on test. One seed, one budget: a screening measurement, not a tuned
comparison.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit_json, format_table, machine  # noqa: E402
from bench_loss_crossover import train_for_budget  # noqa: E402


def parse_settings(text):
    """`"a=1,b=true,c=popularity"` → `{"a": 1, "b": True, "c": "popularity"}`."""
    settings = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {part!r}")
        lowered = value.lower()
        if lowered in ("true", "false"):
            settings[key] = lowered == "true"
            continue
        for cast in (int, float):
            try:
                settings[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            settings[key] = value
    return settings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a prepared dataset folder")
    parser.add_argument("--variant", type=parse_settings, action="append", required=True,
                        help="ModelConfig settings of one variant, NAME=VALUE,... (repeatable)")
    parser.add_argument("--common", type=parse_settings, default={}, help="settings every variant gets")
    parser.add_argument("--budget", type=float, default=180.0,
                        help="CPU-seconds of training steps per variant, compilation left out (default 180)")
    parser.add_argument("--checkpoints", type=float, nargs="*", default=[],
                        help="CPU-second counts below the budget at which validation is scored too")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, metavar="PATH")
    args = parser.parse_args(argv)

    rows = []
    record = {"machine": machine(), "data": args.data, "budget_cpu_s": args.budget, "common": args.common,
              "rows": rows}

    def label(variant):
        return ",".join(f"{k}={v}" for k, v in variant.items())

    for variant in args.variant:
        settings = {**args.common, **variant}
        loss = settings.pop("loss", "sampled_softmax")

        def report(row, variant=variant):
            row = {"variant": label(variant), **row}
            print(row, flush=True)
            rows.append(row)

        report(train_for_budget(args.data, loss, args.budget, args.seed, checkpoints=args.checkpoints,
                                on_checkpoint=report, **settings))
        emit_json(record, args.json)  # after each variant: a killed run keeps what it measured
    table = [[r["variant"], f"{r['cpu_s']:,.0f}", f"{r['step_ms_cpu']:,.0f}", f"{r['step_ms_wall']:,.0f}",
              f"{r['steps']:,}", r["epochs"], f"{r['val_recall@10']:.4f}", f"{r['val_mrr']:.4f}"] for r in rows]
    print(f"{rows[0]['train_events']:,} training events, catalogue {rows[0]['n_catalogue']:,}; batch "
          f"{rows[0]['batch_size']}; common settings {label(args.common) or 'none'}")
    print(format_table(["variant", "CPU-s", "ms/step CPU", "ms/step wall", "steps", "epochs", "val R@10",
                        "val MRR"], table))
    emit_json(record, args.json)


if __name__ == "__main__":
    sys.exit(main())
