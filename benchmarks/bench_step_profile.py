"""Where the CPU time of one training step goes, on a prepared dataset (measured in one run).

For each batch size, on the dataset's own queue batches, in one process and in this order:

- `gather`: the Python queue batcher building the batches (what the input pipeline does on
  its background thread);
- `forward`: the model and its loss, no gradient (`test_on_batch`, XLA-compiled);
- `step sgd`: a whole training step with plain SGD (forward, backward, a dense table update);
- `step adam`: the training step `train` runs (Adam, or AdamW with weight decay);
- `step adam, no XLA`: the same step without XLA (with `--no-jit-variant`).

Each is timed for every `--layouts` (default both, in this order): `padded`, the `[B, S, L]`
session slots, and `packed`, the batch's sessions laid end to end (`packed_sessions`, what
`train` runs for HierTCN); the two read the same queue plan, so the same events, and the run
ends with the ratio of their events per CPU-second. Every batch shape of the timed batches is
compiled before the timing (packed batches take a few widths).

Per variant: CPU milliseconds per step (`time.process_time`: this process' CPU time over all
its threads, so other work on a shared machine does not count) after `--warmup` untimed
(compiling) steps, scored events per step and events per CPU-second. The differences between
the rows say what the backward pass and the optimizer cost; the ratio of rows is what carries
over to another machine.

    nice -n 12 python benchmarks/bench_step_profile.py --data prepared --batch-sizes 8 64 --steps 40
    python benchmarks/bench_step_profile.py --scale 0.02   # a Globo-shaped synthetic log, built here

Without `--data` it builds the Globo-shaped synthetic log of `bench_real_scale.py` at `--scale`
in a temporary folder and prepares it (the item table then shrinks with the scale: the
table's share of a step is only that of a real catalogue with `--data`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.models import build_recommender  # noqa: E402
from hiertcn_keras.training.evaluate import batcher_for  # noqa: E402
from hiertcn_keras.training.optimizers import make_optimizer  # noqa: E402
from hiertcn_keras.training.trainer import model_config_for  # noqa: E402


PARTS = ("gather", "forward", "sgd", "adam")


def _batches(config, dataset, n):
    """`n` real training batches of the first epoch, and the CPU seconds the batcher took."""
    batcher = batcher_for(config, dataset.view("train"), shuffle=True, seed=0, training=True)
    started = time.process_time()
    out = []
    for batch in batcher.batches(0):
        out.append(batch)
        if len(out) == n:
            break
    return out, time.process_time() - started, batcher.n_batches(0)


def _width(batch):
    """The batch's shape key: one XLA compilation per distinct key."""
    return tuple(np.shape(value) for value in batch.values())


def _time(fn, batches, warmup, compile_cpu=None):
    """CPU seconds of `fn` over the timed batches, after the warm-up and one call per new shape.

    The CPU seconds of those untimed (compiling) calls are appended to `compile_cpu`.
    """
    started = time.process_time()
    for batch in batches[:warmup]:
        fn(batch)
    seen = {_width(batch) for batch in batches[:warmup]}
    for batch in batches[warmup:]:  # compile every shape of the timed batches first (packed rows)
        if _width(batch) not in seen:
            seen.add(_width(batch))
            fn(batch)
    if compile_cpu is not None:
        compile_cpu.append(time.process_time() - started)
    started = time.process_time()
    for batch in batches[warmup:]:
        fn(batch)
    return time.process_time() - started


def profile(dataset, batch_size, steps, warmup, overrides, no_jit_variant, parts=PARTS, layout="padded"):
    """Rows of `{variant, cpu_ms_per_step, events_per_step, events_per_cpu_s}` for one batch size.

    `layout`: `"padded"` (`[B, S, L]` slots) or `"packed"` (each row's sessions end to end,
    `hiertcn_keras.data.session_packing`); both use the same queue plan, so the same events.
    """
    config = model_config_for(dataset, model="hiertcn", batch_size=batch_size,
                              packed_sessions=layout == "packed", **overrides)
    batches, gather_s, steps_per_epoch = _batches(config, dataset, warmup + steps)
    events = sum(int(np.asarray(b["score"]).sum()) for b in batches[warmup:])
    positions = sum(int(np.asarray(b["mask"]).size) for b in batches[warmup:])
    n = len(batches) - warmup
    shapes = len({_width(b) for b in batches})
    rows = [("gather", gather_s * (n / len(batches)))] if "gather" in parts else []

    def model_for(optimizer, jit):
        keras.utils.set_random_seed(0)
        model = build_recommender(config, item_counts=dataset.item_counts("train"))
        model(batches[0])
        model.compile(optimizer=optimizer, jit_compile=jit)
        return model

    if "forward" in parts:
        forward = model_for(make_optimizer(config), True)
        rows.append(("forward", _time(lambda b: forward.test_on_batch(b), batches, warmup)))
    if "sgd" in parts:
        sgd = model_for(keras.optimizers.SGD(config.learning_rate), True)
        rows.append(("step sgd", _time(lambda b: sgd.train_on_batch(b), batches, warmup)))
    adam = model_for(make_optimizer(config), True)
    compile_cpu = []
    rows.append(("step adam", _time(lambda b: adam.train_on_batch(b), batches, warmup, compile_cpu)))
    if no_jit_variant:
        eager = model_for(make_optimizer(config), False)
        rows.append(("step adam, no XLA", _time(lambda b: eager.train_on_batch(b), batches, warmup)))
    return [{"batch_size": batch_size, "layout": layout, "variant": name, "positions_per_step": round(positions / n),
             "padding_share": round(1 - events / positions, 3) if positions else None, "shapes": shapes, "cpu_ms_per_step": round(1000 * cpu / n, 1),
             "events_per_step": round(events / n, 1), "events_per_cpu_s": round(events / cpu) if cpu else None,
             "steps_per_epoch": steps_per_epoch, "loss": config.loss, "n_negatives": config.n_negatives,
             "adam_warmup_cpu_s": round(compile_cpu[0], 1)}
            for name, cpu in rows]


def _print_ratios(rows):
    """Packed over padded events per CPU-second, per batch size, negatives count and part."""
    padded = {(r["batch_size"], r["n_negatives"], r["variant"]): r for r in rows if r["layout"] == "padded"}
    for row in rows:
        key = (row["batch_size"], row["n_negatives"], row["variant"])
        if row["layout"] == "packed" and key in padded and padded[key]["events_per_cpu_s"]:
            print(f"packed / padded, B = {key[0]}, {key[2]}: "
                  f"{row['events_per_cpu_s'] / padded[key]['events_per_cpu_s']:.2f}x events per CPU-second "
                  f"({row['shapes']} batch shapes compiled; the untimed warm-up and compiling Adam steps took "
                  f"{row['adam_warmup_cpu_s']} CPU-s, padded {padded[key]['adam_warmup_cpu_s']})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="prepared dataset folder (default: build one at --scale)")
    parser.add_argument("--scale", type=float, default=0.02,
                        help="without --data: the Globo-shaped log of bench_real_scale.py at this scale (default 0.02)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed without --data (default 7)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation; default 3)")
    parser.add_argument("--loss", default=None, help="loss (default: the catalogue's default)")
    parser.add_argument("--negatives", type=int, default=None)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="what to time (default all; the Adam step is always timed)")
    parser.add_argument("--negatives-list", type=int, nargs="+", default=None, metavar="M",
                        help="time the step once per negatives count (instead of --negatives)")
    parser.add_argument("--no-jit-variant", action="store_true", help="also time the step without XLA")
    parser.add_argument("--layouts", nargs="+", choices=("padded", "packed"), default=["padded", "packed"],
                        help="batch layouts to time, in this order (default both: the ratio is printed)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        return _run(args, args.data or _build(tmp, args.scale, args.seed))


def _build(directory, scale, seed):
    """Generate and prepare the Globo-shaped synthetic log at `scale` in `directory`."""
    from bench_real_scale import synth_config

    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import prepare
    from hiertcn_keras.data.synthetic import generate
    from hiertcn_keras.data.synthetic_io import save

    log = os.path.join(directory, "log.csv")
    save(generate(synth_config(scale, seed), with_oracle=False), log)
    prepare(load(log, "generic")).write(os.path.join(directory, "prepared"))
    return os.path.join(directory, "prepared")


def _run(args, data):
    dataset = PreparedDataset(data)
    negatives = args.negatives_list or [args.negatives]
    print(f"{len(dataset.view('train')):,} training events, catalogue {dataset.n_catalogue:,}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print("| B | layout | negatives | part | CPU ms/step | events/step | positions/step (padding) | events per CPU-s | steps/epoch |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|")
    rows = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        for batch_size in args.batch_sizes:
            for m in negatives:
                overrides = {"loss": args.loss, "n_negatives": m}
                for layout in args.layouts:
                    for row in profile(dataset, batch_size, args.steps, args.warmup, overrides, args.no_jit_variant,
                                       args.parts, layout):
                        rows.append(row)
                        print(f"| {row['batch_size']} | {layout} | {row['n_negatives']} | {row['variant']} | "
                              f"{row['cpu_ms_per_step']:,} | {row['events_per_step']:,} | "
                              f"{row['positions_per_step']:,} ({row['padding_share']:.0%}) | "
                              f"{row['events_per_cpu_s']:,} | {row['steps_per_epoch']:,} |", flush=True)
    _print_ratios(rows)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("JSON " + json.dumps(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
