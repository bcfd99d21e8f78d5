"""The memory check's estimate of a training step against the measured peak resident memory.

For each config, a fresh child process loads a prepared dataset, builds and compiles the model
exactly as `hiertcn train` does (XLA on the TensorFlow backend), trains `--steps` steps on the
real queue batches and reports its own high-water mark (`getrusage(RUSAGE_SELF).ru_maxrss`),
next to `memory_check.estimate_step` for the same config. The data is the real-scale synthetic
log of `bench_real_scale.py` at `--scale` (0.1: about 300k clicks, 4.5k items).

    python benchmarks/bench_memory_estimate.py --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit_json, format_table, machine, temp_dir  # noqa: E402

CONFIGS = (  # model, loss, batch size
    ("hiertcn", "softmax", 32),
    ("hiertcn", "softmax", 128),
    ("hiertcn", "sampled_softmax", 128),
    ("tcn", "softmax", 32),
    ("gru", "softmax", 32),
)


def measure(prepared, model, loss, batch, steps):
    """Child mode: train `steps` steps and print the estimate and the peak as one JSON line."""
    import keras

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.data.pipeline import make_dataset
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.training import memory_check
    from hiertcn_keras.training.evaluate import batcher_for
    from hiertcn_keras.training.trainer import model_config_for

    dataset = PreparedDataset(prepared)
    config = model_config_for(dataset, model=model, loss=loss, batch_size=batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # The batches `train` feeds (packed rows for HierTCN), and the estimate for their width.
    batcher = batcher_for(config, dataset.view("train"), shuffle=True, training=True)
    estimate = memory_check.estimate_step(config, row_width=memory_check.packed_row_width(batcher))
    recommender = build_recommender(config, item_counts=dataset.item_counts("train"))
    units = config.sessions_per_batch if config.hierarchical else 1
    recommender(batcher.table.gather(__import__("numpy").full((config.batch_size, units), -1)))
    recommender.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                         jit_compile=keras.backend.backend() == "tensorflow")
    recommender.fit(make_dataset(batcher).take(steps), epochs=1, verbose=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps({"model": model, "loss": loss, "batch": batch, "estimate": estimate.total,
                                  "parts": estimate.parts, "peak_rss": peak, "rss_before_model": before,
                                  "catalogue": config.n_catalogue}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--data", default=None, help="a prepared dataset instead of the synthetic one")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        prepared, model, loss, batch = args.child
        return measure(prepared, model, loss, int(batch), args.steps)

    import bench_real_scale

    with temp_dir(prefix="hiertcn-memory-") as tmp:
        prepared = args.data
        if prepared is None:
            log, prepared = tmp / "log.csv", str(tmp / "prepared")
            bench_real_scale.main(["--write-log", str(log), "--scale", str(args.scale)])
            from hiertcn_keras.data.loaders import load
            from hiertcn_keras.data.prepare import PrepareConfig, prepare

            prepare(load(log, "generic"), PrepareConfig()).write(prepared)
        results = []
        for model, loss, batch in CONFIGS:
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", prepared, model,
                                  loss, str(batch)], capture_output=True, text=True)
            lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
            if not lines:
                print(out.stderr[-2000:], file=sys.stderr)
                continue
            results.append(json.loads(lines[0][len("RESULT "):]))
            r = results[-1]
            print(f"{model} {loss} B={batch}: estimate {r['estimate'] / 2**30:.2f} GiB, "
                  f"peak {r['peak_rss'] / 2**30:.2f} GiB", flush=True)
    rows = [[f"{r['model']} {r['loss']} B={r['batch']}", f"{r['catalogue']:,}",
             f"{r['parts']['logits'] / 2**30:.2f}", f"{r['estimate'] / 2**30:.2f}",
             f"{r['peak_rss'] / 2**30:.2f}", f"{r['estimate'] / r['peak_rss']:.2f}"] for r in results]
    print(format_table(["config", "catalogue", "logits GiB (est.)", "estimate GiB", "peak RSS GiB",
                        "estimate / peak"], rows))
    emit_json({"scale": args.scale, "steps": args.steps, "results": results, "machine": machine()}, args.json)


if __name__ == "__main__":
    sys.exit(main())
