"""A real-scale log end to end on one machine: prepare, one epoch of each neural model with its
default loss, full-catalogue evaluation; wall time, peak memory and events/s per stage.

The synthetic log is shaped like the public Globo.com release (about 3M clicks, 300k users,
45k items, a median of 2 clicks per session: geometric session lengths of mean 2.5, 4 sessions
per user on average); `--scale 0.1` shrinks users, items and clicks together. Every stage runs
as its own `hiertcn` command in a child process, as a user would run it, and its peak resident
memory is the child's own high-water mark (`os.wait4`'s `ru_maxrss`). Training's events/s is the
epoch's own (`history.json`: training events / epoch seconds, validation excluded); the `train`
stage's wall time also holds start-up, compilation, the epoch's validation and the test split.

    python benchmarks/bench_real_scale.py --scale 0.1 --models hiertcn   # ~10 min on 2 busy cores
    python benchmarks/bench_real_scale.py                                # full scale: a quiet machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit_json, format_table, machine, temp_dir  # noqa: E402

MODELS = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")
FULL = {"users": 300_000, "items": 45_000}


def synth_config(scale, seed):
    """The generator config of a log shaped like the Globo release, at `scale`."""
    from hiertcn_keras.data.synthetic import SyntheticConfig

    return SyntheticConfig(n_users=max(100, round(FULL["users"] * scale)),
                           n_items=max(200, round(FULL["items"] * scale)), n_topics=50, seed=seed,
                           mean_sessions=4.0, mean_session_len=2.5, max_session_len=40)


def _write_log(out, scale, seed):
    """Child mode: generate and save the log (no oracle)."""
    from hiertcn_keras.data.synthetic import generate
    from hiertcn_keras.data.synthetic_io import save

    save(generate(synth_config(scale, seed), with_oracle=False), out)


def run_stage(name, argv, env):
    """Run one command; `(seconds, peak RSS bytes)` of that child alone. Exits on failure."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"stage {name} failed: {' '.join(map(str, argv))}")
    return seconds, usage.ru_maxrss * 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the real log's size (default 1)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", default=None, metavar="PATH")
    parser.add_argument("--write-log", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_log:
        return _write_log(args.write_log, args.scale, args.seed)

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    hiertcn = [sys.executable, "-c", "import sys; from hiertcn_keras.cli import main; sys.exit(main())"]
    rows, record = [], {"scale": args.scale, "models": args.models, "machine": machine(), "stages": {}}

    def add(stage, seconds, peak, events, note=""):
        rate = f"{events / seconds:,.0f}" if events and seconds else ""
        rows.append([stage, f"{seconds:,.1f}", f"{peak / 1e9:.2f}", f"{events:,}" if events else "", rate, note])
        record["stages"][stage] = {"seconds": round(seconds, 2), "peak_rss_bytes": int(peak),
                                   "events": events, "note": note}

    with temp_dir(keep=args.keep, prefix="hiertcn-real-scale-") as tmp:
        log, prepared = tmp / "log.csv", tmp / "prepared"
        seconds, peak = run_stage("synth", [sys.executable, __file__, "--write-log", str(log),
                                            "--scale", str(args.scale), "--seed", str(args.seed)], env)
        n_clicks = sum(1 for _ in open(log)) - 1
        add("synth (not timed as a product stage)", seconds, peak, n_clicks)
        seconds, peak = run_stage("prepare", [*hiertcn, "prepare", "--input", str(log), "--format", "generic",
                                              "--out", str(prepared)], env)
        add("prepare", seconds, peak, n_clicks)
        stats = json.loads((prepared / "stats.json").read_text())
        record["data"] = {k: v for k, v in stats.items() if isinstance(v, (int, float, str))}
        for model in args.models:
            run = tmp / "runs" / model
            seconds, peak = run_stage(f"train {model}", [*hiertcn, "train", "--data", str(prepared), "--model", model,
                                                         "--out", str(run), "--epochs", "1", "--quiet"], env)
            history = json.loads((run / "history.json").read_text())
            config = json.loads((run / "config.json").read_text())
            train_events = config["train_events_per_epoch"]
            epoch_s = history["epoch_seconds"][0]
            add(f"train {model}: whole command", seconds, peak, 0,
                f"loss {config['model']['loss']}, batch {config['model']['batch_size']}")
            add(f"train {model}: the epoch", epoch_s, peak, train_events,
                f"val {history.get('val_seconds', [0])[0]:.0f} s, val recall@10 "
                f"{history.get('val_recall@10', [float('nan')])[0]:.4f}")
            out = tmp / f"{model}-test.json"
            seconds, peak = run_stage(f"evaluate {model}", [*hiertcn, "evaluate", "--data", str(prepared), "--run",
                                                            str(run), "--out", str(out)], env)
            metrics = json.loads(out.read_text())
            add(f"evaluate {model} (test, full catalogue)", seconds, peak, metrics["n_events"],
                f"recall@10 {metrics['recall@10']:.4f}, mrr {metrics['mrr']:.4f}")
    print(f"log: {n_clicks:,} clicks (scale {args.scale}); prepared: "
          + ", ".join(f"{k} {v:,}" for k, v in record["data"].items() if isinstance(v, int))[:400])
    print(format_table(["stage", "wall s", "peak GB", "events", "events/s", "note"], rows))
    emit_json(record, args.json)


if __name__ == "__main__":
    sys.exit(main())
