"""A real-scale log end to end on one machine: prepare, one epoch of each neural model with its
default loss, full-catalogue evaluation, and the successor-count baseline on the same test split.

The synthetic log is shaped like the public Globo.com release (about 3M clicks, 300k users,
45k items, a median of 2 clicks per session: geometric session lengths of mean 2.5, 4 sessions
per user on average); `--scale 0.1` shrinks users, items and clicks together. Every stage runs
as its own `hiertcn` command in a child process, with every default (packed sessions, the loss
and the batch chosen from the data, the memory check before training, `--quiet` progress), as
a user would run it. Per stage: wall seconds, the child's CPU seconds and peak resident memory
(`os.wait4`'s rusage of that child alone: `ru_utime + ru_stime`, `ru_maxrss`) and events/s.

Per model, the training table reads the run's own files and progress lines: the loss and the
batch chosen, packed or padded sessions, the steps per epoch (the run's first line) and the
steps trained (fewer when `--time-limit` stopped the epoch), the epoch's wall time alone
(`history.json`: validation excluded, the first, compiling step included), the steady step
time between the first and the last progress line (wall and the child's CPU, read from
`/proc/PID/stat` as each line arrives: the compilation left out), events/s, the memory check's
estimate against the measured peak, the longest silence of the `--quiet` progress, the
validation and the test Recall@10/MRR (full catalogue, conservative ties), and
`hiertcn evaluate --model successor` on the same test split.

    python benchmarks/bench_real_scale.py --scale 0.1                     # all neural models
    python benchmarks/bench_real_scale.py --scale 0.1 --time-limit tcn=20 # stop tcn's epoch at 20 min
    python benchmarks/bench_real_scale.py --models hiertcn                # full scale: a quiet machine
    python benchmarks/bench_real_scale.py --prepared DIR --models gru     # a folder kept by --keep

Wall times depend on what else runs on the machine: the CPU share column (CPU s / wall s) says
how much of it a stage got; CPU ms/step carries over between loaded and quiet machines better
than wall time does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit_json, machine, temp_dir  # noqa: E402

MODELS = ("hiertcn", "hiergru", "hrnn", "tcn", "gru", "gru4rec")  # the CLI's neural models
FULL = {"users": 300_000, "items": 45_000}
_TICKS = os.sysconf("SC_CLK_TCK")

_HEADER = re.compile(r"^training (\S+) on ([\d,]+) events, ([\d,]+) users, catalogue ([\d,]+) items; "
                     r"loss (\S+).*; batch (\d+).*; ([\d,]+) steps per epoch")
_HEARTBEAT = re.compile(r"^epoch (\d+)/\d+ step ([\d,]+)/([\d,]+)")
_MEASURED = re.compile(r"measured ([\d,.]+) ms/step over steps 2-(\d+)")
_TIME_LIMIT = re.compile(r"time limit of .* reached after step ([\d,]+) of this epoch")


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


def _parse_int(text):
    return int(text.replace(",", ""))


def _cpu_seconds(pid):
    """User + system CPU seconds of a running process so far (`nan` once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return float("nan")


@dataclass
class Stage:
    """One child command: wall and CPU seconds, peak RSS and its output lines.

    `lines` are `(wall seconds since the start, the child's CPU seconds then, text)`.
    """

    wall: float
    cpu: float
    peak: int
    lines: list = field(default_factory=list)

    @property
    def share(self):
        """CPU seconds per wall second (2.0 = both cores of a 2-core machine all the time)."""
        return self.cpu / self.wall if self.wall else float("nan")


def run_stage(name, argv, env, echo=True):
    """Runs one command, echoing its output; a `Stage`. Exits on failure.

    CPU time and peak RSS are the child's own (`os.wait4`); every line of its standard output
    is stamped with the wall time since the start and the child's CPU time at that moment.
    """
    started = time.perf_counter()
    # stderr (TensorFlow's native logging) goes straight to ours: on one pipe its writes could
    # land inside a progress line.
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    lines = []
    for line in child.stdout:
        lines.append((time.perf_counter() - started, _cpu_seconds(child.pid), line.rstrip("\n")))
        if echo:
            print(f"  [{name}] {line}", end="", flush=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"stage {name} failed: {' '.join(map(str, argv))}")
    return Stage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, lines)


def parse_train_output(lines):
    """What `hiertcn train --quiet` printed about its first epoch.

    Args:
        lines: list of `(wall s, CPU s, text)`, as in `Stage.lines`.

    Returns:
        dict: `steps_per_epoch`, `batch`, `loss` (from the run's first line, `None` if absent);
        `measured_ms_per_step` (the run's own estimate over steps 2-6); `steps_trained` (the
        step at which `--time-limit` stopped the epoch, else `steps_per_epoch`);
        `steady_ms_per_step` and `steady_cpu_ms_per_step` between the first and the last
        progress line of epoch 1 (`nan` with fewer than two); `max_silence_s`, the longest
        gap between two output lines from the first line to the last progress line of epoch
        1, and `max_silence_after_first_step_s` the same from the first progress line on (the
        first, compiling step prints nothing until it ends); `progress_lines`.
    """
    info = {"steps_per_epoch": None, "batch": None, "loss": None, "measured_ms_per_step": float("nan"),
            "steps_trained": None, "steady_ms_per_step": float("nan"), "steady_cpu_ms_per_step": float("nan"),
            "max_silence_s": float("nan"), "max_silence_after_first_step_s": float("nan"), "progress_lines": 0}
    beats, start = [], None
    for wall, cpu, text in lines:
        if (m := _HEADER.search(text)) is not None:
            info.update(loss=m.group(5), batch=int(m.group(6)), steps_per_epoch=_parse_int(m.group(7)))
            start = wall
        elif (m := _MEASURED.search(text)) is not None:
            info["measured_ms_per_step"] = float(m.group(1).replace(",", ""))
        elif (m := _TIME_LIMIT.search(text)) is not None:
            info["steps_trained"] = _parse_int(m.group(1))
        elif (m := _HEARTBEAT.search(text)) is not None and m.group(1) == "1":
            beats.append((wall, cpu, _parse_int(m.group(2))))
    info["progress_lines"] = len(beats)
    if info["steps_trained"] is None:
        info["steps_trained"] = info["steps_per_epoch"]
    if len(beats) >= 2 and beats[-1][2] > beats[0][2]:
        steps = beats[-1][2] - beats[0][2]
        info["steady_ms_per_step"] = 1000 * (beats[-1][0] - beats[0][0]) / steps
        info["steady_cpu_ms_per_step"] = 1000 * (beats[-1][1] - beats[0][1]) / steps
    if start is not None:
        stamps = [start] + [wall for wall, _, _ in lines if wall >= start]
        ends = [b[0] for b in beats] or stamps
        stamps = [s for s in stamps if s <= ends[-1]]
        info["max_silence_s"] = max((b - a for a, b in zip(stamps, stamps[1:])), default=0.0)
        later = [s for s in stamps if beats and s >= beats[0][0]]
        info["max_silence_after_first_step_s"] = max((b - a for a, b in zip(later, later[1:])), default=float("nan"))
    return info


def training_row(model, stage, parsed, config, history, metrics, estimate_bytes=None):
    """One model's row of the training table (a dict; `format_training_table` prints it).

    Args:
        model: str.
        stage: `Stage` of the `train` command.
        parsed: dict of `parse_train_output`.
        config, history, metrics: the run's `config.json`, `history.json`, `metrics.json`.
        estimate_bytes: int or `None`. The memory check's estimate of one step.

    Returns:
        dict.
    """
    train_events = int(config["train_events_per_epoch"])
    steps = parsed["steps_per_epoch"]
    trained = parsed["steps_trained"] or steps
    events = round(train_events * trained / steps) if steps else train_events
    epoch_s = float(history["epoch_seconds"][0])
    cpu_ms = parsed["steady_cpu_ms_per_step"]
    events_per_step = train_events / steps if steps else float("nan")
    return {
        "model": model, "loss": config["model"]["loss"], "batch": int(config["model"]["batch_size"]),
        "packed": bool(config["model"].get("packed_sessions")), "steps_per_epoch": steps, "steps_trained": trained,
        "time_limited": bool(history.get("time_limit_reached", [0.0])[0]), "epoch_s": epoch_s,
        "epoch_events": events, "events_per_s": events / epoch_s if epoch_s else float("nan"),
        "ms_per_step": 1000 * epoch_s / trained if trained else float("nan"),
        "steady_ms_per_step": parsed["steady_ms_per_step"], "steady_cpu_ms_per_step": cpu_ms,
        "events_per_cpu_s": 1000 * events_per_step / cpu_ms if cpu_ms and not math.isnan(cpu_ms) else float("nan"),
        "measured_ms_per_step": parsed["measured_ms_per_step"], "max_silence_s": parsed["max_silence_s"],
        "max_silence_after_first_step_s": parsed.get("max_silence_after_first_step_s", float("nan")),
        "command_wall_s": stage.wall, "command_cpu_s": stage.cpu, "peak_rss_bytes": stage.peak,
        "estimate_bytes": estimate_bytes,
        "val_recall@10": float(history.get("val_recall@10", [float("nan")])[0]),
        "val_mrr": float(history.get("val_mrr", [float("nan")])[0]),
        "val_s": float(history.get("val_seconds", [float("nan")])[0]),
        "test_recall@10": float(metrics.get("recall@10", float("nan"))),
        "test_mrr": float(metrics.get("mrr", float("nan"))), "test_events": metrics.get("n_events"),
    }


def _num(value, spec):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def markdown_table(headers, rows, align):
    """A markdown table; `align` is one of `l`/`r` per column."""
    rule = ["---" if a == "l" else "---:" for a in align]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def format_stage_table(stages):
    """Markdown: stage, wall s, CPU s, CPU share, peak GB, events, events/s, note."""
    rows = [[s["stage"], _num(s["wall_s"], ",.1f"), _num(s["cpu_s"], ",.1f"),
             _num(s["cpu_s"] / s["wall_s"] if s["wall_s"] else None, ".2f"), _num(s["peak_rss_bytes"] / 1e9, ".2f"),
             _num(s["events"], ","), _num(s["events"] / s["wall_s"] if s["events"] and s["wall_s"] else None, ",.0f"),
             s.get("note", "")] for s in stages]
    return markdown_table(["stage", "wall s", "CPU s", "CPU share", "peak GB", "events", "events/s", "note"],
                          rows, "lrrrrrrl")


def format_training_table(rows, baseline=None):
    """Markdown: one row per model (and the successor baseline's test metrics, if given)."""
    out = []
    for r in rows:
        steps = f"{r['steps_per_epoch']:,}" if r["steps_per_epoch"] else "–"
        if r["time_limited"]:
            steps = f"{r['steps_trained']:,} of {steps} (time limit)"
        estimate = "–" if r["estimate_bytes"] is None else f"{r['estimate_bytes'] / 1e9:.2f}"
        out.append([r["model"], r["loss"], f"{r['batch']}{' packed' if r['packed'] else ''}", steps,
                    _num(r["epoch_s"], ",.0f"), _num(r["ms_per_step"], ",.0f"), _num(r["steady_cpu_ms_per_step"], ",.0f"),
                    _num(r["events_per_s"], ",.0f"), _num(r["events_per_cpu_s"], ",.0f"), _num(r["val_s"], ",.0f"),
                    f"{r['peak_rss_bytes'] / 1e9:.2f} ({estimate})",
                    f"{_num(r['max_silence_s'], '.0f')} / {_num(r['max_silence_after_first_step_s'], '.0f')}",
                    _num(r["val_recall@10"], ".4f"), _num(r["val_mrr"], ".4f"),
                    _num(r["test_recall@10"], ".4f"), _num(r["test_mrr"], ".4f")])
    if baseline is not None:
        out.append(["successor (baseline)", "–", "–", "–", "–", "–", "–", "–", "–", "–", "–", "–", "–", "–",
                    _num(baseline["recall@10"], ".4f"), _num(baseline["mrr"], ".4f")])
    headers = ["model", "loss", "batch", "steps (epoch 1)", "epoch s", "ms/step", "CPU ms/step (steady)",
               "events/s", "events per CPU-s", "validation s", "peak GB (estimate)",
               "longest silence s (all / after step 1)", "val Recall@10", "val MRR", "test Recall@10", "test MRR"]
    return markdown_table(headers, out, "lllrrrrrrrrrrrrr")


def parse_time_limits(values, models):
    """`--time-limit` values (`MINUTES` for every model, or `MODEL=MINUTES`) as `{model: minutes}`."""
    limits = {}
    for value in values or ():
        model, _, minutes = value.rpartition("=")
        try:
            number = float(minutes)
        except ValueError:
            raise SystemExit(f"--time-limit: {value!r} is not MINUTES or MODEL=MINUTES") from None
        if number <= 0:
            raise SystemExit(f"--time-limit: {value!r}: the minutes must be > 0")
        if model and model not in MODELS:
            raise SystemExit(f"--time-limit: unknown model {model!r} (one of {', '.join(MODELS)})")
        for name in ([model] if model else models):
            limits[name] = number
    return limits


def memory_estimate_bytes(config_record):
    """The memory check's estimate of one step of a run's model config (`None` if it fails)."""
    try:
        from hiertcn_keras.models.config import ModelConfig
        from hiertcn_keras.training.memory_check import estimate_step

        return estimate_step(ModelConfig.from_dict(config_record["model"])).total
    except Exception as error:  # noqa: BLE001 - a row without an estimate beats a lost run
        print(f"memory estimate unavailable: {error}", file=sys.stderr)
        return None


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the real log's size (default 1)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--time-limit", action="append", metavar="[MODEL=]MINUTES",
                        help="pass --time-limit to train (every model, or MODEL only; repeatable)")
    parser.add_argument("--evaluate-models", nargs="*", choices=MODELS, default=None, metavar="MODEL",
                        help="models whose run is also scored by a separate `hiertcn evaluate` (start-up, model "
                        "loading and the test split; default: every model; train scores the test split anyway)")
    parser.add_argument("--prepared", default=None, metavar="DIR",
                        help="a folder prepared earlier (e.g. kept by --keep): skip the synth and prepare stages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", default=None, metavar="PATH")
    parser.add_argument("--write-log", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.write_log:
        return _write_log(args.write_log, args.scale, args.seed)
    limits = parse_time_limits(args.time_limit, args.models)

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    hiertcn = [sys.executable, "-c", "import sys; from hiertcn_keras.cli import main; sys.exit(main())"]
    record = {"scale": args.scale, "models": args.models, "time_limits": limits, "machine": machine(),
              "stages": [], "training": [], "load_avg_1min": []}

    def add(stage_name, stage, events=None, note=""):
        record["stages"].append({"stage": stage_name, "wall_s": round(stage.wall, 2), "cpu_s": round(stage.cpu, 2),
                                 "peak_rss_bytes": int(stage.peak), "events": events, "note": note})
        record["load_avg_1min"].append(round(os.getloadavg()[0], 2))

    with temp_dir(keep=args.keep, prefix="hiertcn-real-scale-") as tmp:
        if args.prepared:
            prepared = Path(args.prepared)
            record["prepared"] = str(prepared)
        else:
            log, prepared = tmp / "log.csv", tmp / "prepared"
            stage = run_stage("synth", [sys.executable, __file__, "--write-log", str(log), "--scale",
                                        str(args.scale), "--seed", str(args.seed)], env)
            n_clicks = sum(1 for _ in open(log)) - 1
            add("synth (not a product stage)", stage, n_clicks)
            stage = run_stage("prepare", [*hiertcn, "prepare", "--input", str(log), "--format", "generic",
                                          "--out", str(prepared)], env)
            add("prepare", stage, n_clicks)
        stats = json.loads((prepared / "stats.json").read_text())
        record["data"] = {k: v for k, v in stats.items() if isinstance(v, (int, float, str))}

        out = tmp / "successor-test.json"
        stage = run_stage("evaluate successor", [*hiertcn, "evaluate", "--data", str(prepared), "--model", "successor",
                                                 "--split", "test", "--out", str(out)], env)
        baseline = json.loads(out.read_text())
        add("evaluate successor (test, full catalogue)", stage, baseline.get("n_events"),
            f"Recall@10 {baseline['recall@10']:.4f}, MRR {baseline['mrr']:.4f}")
        record["successor"] = {k: baseline[k] for k in ("recall@10", "mrr", "n_events") if k in baseline}

        for model in args.models:
            run = tmp / "runs" / model
            extra = ["--time-limit", f"{limits[model]:g}"] if model in limits else []
            stage = run_stage(f"train {model}", [*hiertcn, "train", "--data", str(prepared), "--model", model,
                                                 "--out", str(run), "--epochs", "1", "--quiet", *extra], env)
            (tmp / "runs" / f"{model}-train-output.json").write_text(json.dumps(stage.lines))
            config = json.loads((run / "config.json").read_text())
            history = json.loads((run / "history.json").read_text())
            metrics = json.loads((run / "metrics.json").read_text())
            record["training"].append(training_row(model, stage, parse_train_output(stage.lines), config, history,
                                                   metrics, memory_estimate_bytes(config)))
            add(f"train {model}: whole command", stage, None,
                "start-up, compilation, the epoch, validation and the test split")
            if args.json:  # what has finished survives a later stage's failure
                Path(args.json).with_suffix(".partial.json").write_text(json.dumps(record, sort_keys=True) + "\n")
            print(format_training_table(record["training"], record["successor"]), flush=True)
            if args.evaluate_models is None or model in args.evaluate_models:
                out = tmp / f"{model}-test.json"
                stage = run_stage(f"evaluate {model}", [*hiertcn, "evaluate", "--data", str(prepared), "--run",
                                                        str(run), "--out", str(out)], env)
                result = json.loads(out.read_text())
                add(f"evaluate {model} (test, full catalogue)", stage, result.get("n_events"),
                    f"Recall@10 {result['recall@10']:.4f}, MRR {result['mrr']:.4f}")

    data = record["data"]
    source = f"prepared folder {args.prepared}" if args.prepared else f"synthetic log at scale {args.scale}"
    print(f"\n{source}: " + ", ".join(f"{k} {v:,}" for k, v in data.items() if isinstance(v, int)))
    print(f"1-minute load average after each stage: {record['load_avg_1min']}\n")
    print(format_stage_table(record["stages"]) + "\n")
    print(format_training_table(record["training"], record["successor"]) + "\n")
    emit_json(record, args.json)
    if args.json:
        Path(args.json).with_suffix(".partial.json").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
