"""Training throughput of one process against two workers (MultiWorkerMirroredStrategy), side by side.

Runs `hiertcn train` on the same prepared dataset twice, exactly as a user would: once as one
process (`--strategy default`) and once as two worker processes on 127.0.0.1, each with its
own port in `TF_CONFIG` (`--strategy multi-worker`), and reads the training events per second
that every run records per epoch (`history.json`; an epoch's time excludes validation). The
first epoch includes tracing, so the figures are the LAST epoch's. XLA is off in both runs:
a distributed run cannot use it on CPU (`hiertcn_keras.training.trainer._jit`), so the two
run the same graph (`bench_training.py` measures the single process with XLA).

On one machine the two workers share its cores, so expect no speed-up (the point of the
multi-worker path is correctness, tested in tests/training/test_distribute.py); what this
measures is the overhead of the all-reduce and of the per-replica input. It then prints the
arithmetic of an epoch over 1.6 billion interactions (the paper's Pinterest log) from the
measured single-process rate, the events per step and the bytes all-reduced per step.

    python benchmarks/bench_distribute.py                        # synthetic log, 1,000 users
    python benchmarks/bench_distribute.py --data runs/default/prepared --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hiertcn_keras.cli.distribute_check import local_tf_configs  # noqa: E402

INTERACTIONS = 1.6e9  # HierTCN's Pinterest log (the paper, §5)


def synthetic_dataset(directory, users):
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import prepare
    from hiertcn_keras.data.synthetic import SyntheticConfig, generate
    from hiertcn_keras.data.synthetic_io import save

    log_path = Path(directory) / "log.csv"
    save(generate(SyntheticConfig(n_users=users), with_oracle=False), log_path)
    prepare(load(log_path, "generic")).write(Path(directory) / "prepared")
    return Path(directory) / "prepared"


def run(command, envs, timeout):
    """Start one process per environment, wait for all; returns the wall seconds."""
    started = time.perf_counter()
    processes = [subprocess.Popen(command(k), env={**os.environ, **env}, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for k, env in enumerate(envs)]
    outputs = [p.communicate(timeout=timeout)[0] for p in processes]
    for p, output in zip(processes, outputs):
        if p.returncode:
            raise RuntimeError(f"{' '.join(command(0))} failed:\n{output[-4000:]}")
    return time.perf_counter() - started


def last_epoch(run_dir):
    history = json.loads((Path(run_dir) / "history.json").read_text())
    return history["events_per_second"][-1], history["epoch_seconds"][-1]


def step_figures(data, batch_size, sessions):
    """Events per global batch and trainable parameters (what every step all-reduces)."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.training.evaluate import batcher_for
    from hiertcn_keras.training.trainer import model_config_for

    dataset = PreparedDataset(data)
    config = model_config_for(dataset, model="hiertcn", batch_size=batch_size, sessions_per_batch=sessions)
    view = dataset.view("train")
    steps = batcher_for(config, view).n_batches()
    model = build_recommender(config)
    learned = sum(int(v.numpy().size) for v in model.trainable_weights)
    item_tables = sum(int(v.numpy().size) for v in model.trainable_weights
                      if v.path.startswith(("item_embedding", "output_items")))
    return len(view) / steps, learned, learned - item_tables


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="prepared dataset (default: a synthetic one)")
    parser.add_argument("--users", type=int, default=1000, help="users of the synthetic log (default 1000)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the last is measured (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch B (default 32)")
    parser.add_argument("--timeout", type=int, default=3600)
    args = parser.parse_args(argv)

    hiertcn = str(Path(sys.executable).with_name("hiertcn"))
    with tempfile.TemporaryDirectory(prefix="bench_distribute_") as tmp:
        data = Path(args.data) if args.data else synthetic_dataset(tmp, args.users)
        # No XLA in either run: a distributed run cannot use it (trainer._jit), so both run the
        # same traced graph.
        common = ["train", "--data", str(data), "--model", "hiertcn", "--epochs", str(args.epochs),
                  "--patience", str(args.epochs), "--batch-size", str(args.batch_size), "--quiet", "--no-jit"]
        single_dir, multi_dir = Path(tmp) / "single", Path(tmp) / "two-workers"
        single_wall = run(lambda k: [hiertcn, *common, "--out", str(single_dir)], [{}], args.timeout)
        envs = [{"TF_CONFIG": config} for config in local_tf_configs(2)]
        multi_wall = run(lambda k: [hiertcn, *common, "--out", str(multi_dir), "--strategy", "multi-worker"],
                         envs, args.timeout)
        single_rate, single_epoch = last_epoch(single_dir)
        multi_rate, multi_epoch = last_epoch(multi_dir)
        events_per_step, params, params_without_items = step_figures(data, args.batch_size, 10)

    print(f"cores: {os.cpu_count()}  data: {'synthetic, ' + str(args.users) + ' users' if not args.data else data}  "
          f"B = {args.batch_size} (two workers: {args.batch_size // 2} rows each)  XLA: off in both")
    print("| run | events/s (last epoch) | epoch s | wall s (whole command) |")
    print("|---|---|---|---|")
    print(f"| one process | {single_rate:,.0f} | {single_epoch:.2f} | {single_wall:.1f} |")
    print(f"| two workers (127.0.0.1) | {multi_rate:,.0f} | {multi_epoch:.2f} | {multi_wall:.1f} |")
    print(f"two workers / one process: {multi_rate / single_rate:.2f}x events/s")

    # An epoch over the paper's 1.6B interactions, from the measured rates.
    steps = INTERACTIONS / events_per_step
    hours = INTERACTIONS / single_rate / 3600
    print(f"\n1.6B interactions per epoch at B = {args.batch_size}, S = 10: {events_per_step:.0f} events/step "
          f"→ 1.6e9 / {events_per_step:.0f} = {steps:,.0f} steps")
    print(f"one process of this machine: 1.6e9 / {single_rate:,.0f} events/s = {hours:,.1f} h per epoch")
    print(f"every step all-reduces the gradients of {params:,} trainable floats ({4 * params / 1e6:.1f} MB; "
          f"{params_without_items:,} = {4 * params_without_items / 1e6:.2f} MB without the learned item tables, "
          f"i.e. in the pretrained item space)")
    for workers in (8, 32, 64):
        scaled = INTERACTIONS / (workers * single_rate * 0.9) / 3600
        print(f"N = {workers:>2} such workers at 90% scaling efficiency (assumed, not measured here): "
              f"1.6e9 / ({workers} × {single_rate:,.0f} × 0.9) = {scaled:,.1f} h per epoch, "
              f"global batch {workers * args.batch_size} rows if each keeps B = {args.batch_size}")
    print(json.dumps({"single_events_per_s": single_rate, "two_worker_events_per_s": multi_rate,
                      "ratio": multi_rate / single_rate, "events_per_step": events_per_step,
                      "trainable_params": params, "hours_per_epoch_1p6B_one_process": hours}))


if __name__ == "__main__":
    main()
