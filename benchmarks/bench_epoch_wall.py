"""Wall time against CPU time of `train`'s steps, variant by variant, each in a fresh process.

What decides a whole epoch on the wall clock is not only the CPU a step costs but whether that
work keeps the cores busy, and what the process pays the kernel (page faults). Some settings
are read only once per process (TensorFlow's CPU allocator, `XLA_FLAGS`), so each variant
runs `hiertcn_keras.training.trainer.train` (every default for the log: batch, loss,
candidates, packed sessions, XLA; no validation) in its own child process, stopped after
`--steps` steps. Per variant:

- `first step s`: the first step's wall seconds (tracing and XLA compilation);
- `wall ms/step`, `CPU ms/step` (`time.process_time` of the child, all its threads) over the
  steps after the first `--skip`, and `cores` = CPU / wall;
- `faults/step`: minor page faults per step (`getrusage`), each a trip into the kernel;
- `events/s`: training events per wall second over those steps;
- `wall / first's`: the wall time per step against the first variant's, in the same run.

Variants (`--variants`, in order; default `kept returned`):

- `kept`: what `train` does (`training/memory_reuse.py`: freed memory kept for the next step);
- `returned`: `HIERTCN_KEEP_FREED_MEMORY=0`, the allocators' defaults (freed memory goes back
  to the system and is faulted in again on the next step);
- `malloc-only`: only glibc's `malloc` settings (`TF_CPU_ALLOCATOR_USE_BFC=false`);
- `pool-only`: only TensorFlow's pooled allocator (`HIERTCN_KEEP_FREED_MEMORY=0`,
  `TF_CPU_ALLOCATOR_USE_BFC=true`);
- `negatives=M`: `kept` with M shared negatives (and up to M in-batch ones);
- `batch=B`: `kept` with batch size B (the learning rate the rule gives at B).

On a shared machine pin the run to the cores nobody else uses (`taskset -c 0 python ...`): the
ratios are what carries over.

    setsid bash -c 'echo 5 > /proc/$$/autogroup; exec nice -n 5 taskset -c 0 python \\
        benchmarks/bench_epoch_wall.py --data full_prep --steps 20 --variants kept returned negatives=512'
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit_json  # noqa: E402

RESULT = "bench_epoch_wall result: "


def variant_settings(name):
    """`(environment changes, model-config overrides)` of a variant name (see the docstring)."""
    if name == "kept":
        return {}, {}
    if name == "returned":
        return {"HIERTCN_KEEP_FREED_MEMORY": "0"}, {}
    if name == "malloc-only":
        return {"TF_CPU_ALLOCATOR_USE_BFC": "false"}, {}
    if name == "pool-only":
        return {"HIERTCN_KEEP_FREED_MEMORY": "0", "TF_CPU_ALLOCATOR_USE_BFC": "true"}, {}
    key, _, value = name.partition("=")
    if key == "negatives" and value.isdigit():
        return {}, {"n_negatives": int(value)}
    if key == "batch" and value.isdigit():
        return {}, {"batch_size": int(value)}
    raise argparse.ArgumentTypeError(
        f"unknown variant {name!r}: kept, returned, malloc-only, pool-only, negatives=M or batch=B")


def child(data, steps, skip, overrides):
    """Train `steps` steps in this process; returns the row (see the module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tempfile

    import keras

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training import trainer
    from hiertcn_keras.training.evaluate import batcher_for
    from hiertcn_keras.training.train_config import TrainConfig

    marks = []

    class Stop(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                marks.append((time.perf_counter(), time.process_time(), _faults()))

        def on_train_batch_end(self, batch, logs=None):
            marks.append((time.perf_counter(), time.process_time(), _faults()))
            if batch + 1 >= steps:
                self.model.stop_training = True

    dataset = PreparedDataset(data)
    config = trainer.model_config_for(dataset, model="hiertcn", **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer.train(data, config, TrainConfig(epochs=1, validate=False, verbose=0), os.path.join(tmp, "run"),
                      evaluate_test=False, callbacks=[Stop()])
    (w0, _, _), (w1, _, _) = marks[0], marks[1]
    (wa, ca, fa), (wb, cb, fb) = marks[1 + skip], marks[-1]
    n = len(marks) - 2 - skip
    train_view = dataset.view("train")
    events = len(train_view) / len(batcher_for(config, train_view, shuffle=True, seed=0, training=True).plan(0))
    return {"batch": config.batch_size, "n_negatives": config.n_negatives, "first_step_s": round(w1 - w0, 1),
            "wall_ms_per_step": round((wb - wa) / n * 1e3, 1), "cpu_ms_per_step": round((cb - ca) / n * 1e3, 1),
            "cores": round((cb - ca) / (wb - wa), 2), "faults_per_step": round((fb - fa) / n),
            "events_per_s": round(events * n / (wb - wa)), "timed_steps": n,
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


def _faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--steps", type=int, default=20, help="steps per variant, the first included (default 20)")
    parser.add_argument("--skip", type=int, default=4, help="steps after the first left out of the timing (default 4)")
    parser.add_argument("--variants", nargs="+", type=str, default=["kept", "returned"], metavar="NAME")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # JSON overrides: run one variant here
    args = parser.parse_args(argv)
    if args.steps < args.skip + 3:
        parser.error("--steps must be at least --skip + 3")
    if args.child is not None:
        print(RESULT + json.dumps(child(args.data, args.steps, args.skip, json.loads(args.child))), flush=True)
        return [True]
    for name in args.variants:
        variant_settings(name)  # refuse an unknown name before anything runs

    print(f"{args.data}: {args.steps} steps per variant, timed after the first {1 + args.skip}; "
          f"load average {os.getloadavg()[0]:.1f}; cores allowed {sorted(os.sched_getaffinity(0))}", flush=True)
    print("| variant | batch | M | first step s | wall ms/step | CPU ms/step | cores | faults/step | events/s | "
          "wall / first's |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name in args.variants:
        env_changes, overrides = variant_settings(name)
        command = [sys.executable, os.path.abspath(__file__), "--data", args.data, "--steps", str(args.steps),
                   "--skip", str(args.skip), "--child", json.dumps(overrides)]
        done = subprocess.run(command, env={**os.environ, **env_changes}, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
        if done.returncode or not lines:
            print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"variant {name} failed (exit {done.returncode})")
        row = {"name": name, **json.loads(lines[-1][len(RESULT):])}
        rows.append(row)
        ratio = row["wall_ms_per_step"] / rows[0]["wall_ms_per_step"]
        print(f"| {name} | {row['batch']} | {row['n_negatives']:,} | {row['first_step_s']} | "
              f"{row['wall_ms_per_step']} | {row['cpu_ms_per_step']} | {row['cores']} | {row['faults_per_step']:,} | "
              f"{row['events_per_s']:,} | {ratio:.2f} |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    emit_json(rows, args.json)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
