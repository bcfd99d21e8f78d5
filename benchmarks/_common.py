"""Helpers shared by the benchmarks: a temporary synthetic dataset, timing, memory, output.

`bench_prepare.py` and `bench_batcher.py` both build a synthetic log of a requested size, time
stages with `time.perf_counter`, watch the resident set size (RSS) and print a table plus one
JSON line. What they share lives here so the two scripts do not duplicate it.

Memory is read two ways:

- `peak_rss_bytes()`: the kernel's high-water mark, `getrusage(RUSAGE_SELF).ru_maxrss`. Exact,
  but one number for the whole life of the process, so a benchmark that wants the peak of a
  pipeline alone runs it in a fresh subprocess (see `bench_prepare.py`).
- `RssSampler`: a thread in the *parent* that reads the subprocess's `/proc/<pid>/statm` every
  5 ms with a timestamp, to attribute memory to stages without running anything inside the
  measured process. A peak shorter than the interval can be missed: per-stage peaks are lower
  bounds, the kernel's high-water mark is the reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from hiertcn_keras.data.loaders import load
from hiertcn_keras.data.prepare import PrepareConfig, prepare
from hiertcn_keras.data.synthetic import SyntheticConfig, generate
from hiertcn_keras.data.synthetic_io import save

GB = 1e9
MB = 1e6
_PAGE = os.sysconf("SC_PAGE_SIZE")


def expected_events_per_user(config):
    """Mean events per user of the generator: E[sessions] × E[session length], both capped.

    A count `min(Geometric(p), cap)` (support ≥ 1) has mean `sum_{k<cap} (1 - p) ** k`; the
    defaults give 7.97 sessions × 5.95 clicks ≈ 47.5 events per user.

    Args:
        config: `SyntheticConfig`.

    Returns:
        float.
    """

    def capped_geometric_mean(mean, cap):
        return float(np.sum((1.0 - 1.0 / mean) ** np.arange(cap)))

    return (capped_geometric_mean(config.mean_sessions, config.max_sessions)
            * capped_geometric_mean(config.mean_session_len, config.max_session_len))


def synthetic_config(n_events, seed=7):
    """The default generator config with `n_users` chosen to give about `n_events` events.

    Args:
        n_events: int. Target number of events (≥ 1).
        seed: int. Generator seed. Defaults to 7.

    Returns:
        `SyntheticConfig`.
    """
    if n_events < 1:
        raise ValueError(f"events must be ≥ 1, got {n_events}")
    per_user = expected_events_per_user(SyntheticConfig())
    return SyntheticConfig(n_users=max(1, round(n_events / per_user)), seed=seed)


def write_synthetic_csv(directory, n_events, seed=7):
    """Generate a synthetic log of about `n_events` events and save it as `log.csv`.

    Args:
        directory: str or Path. Folder to write into.
        n_events: int. Target number of events.
        seed: int. Generator seed. Defaults to 7.

    Returns:
        dict: `path` (Path of the CSV), `n_events` (actual), `n_users`, `generate_s`, `save_s`.
    """
    config = synthetic_config(n_events, seed)
    started = time.perf_counter()
    log = generate(config, with_oracle=False)
    generated = time.perf_counter()
    path = save(log, Path(directory) / "log.csv")
    saved = time.perf_counter()
    return {"path": path, "n_events": len(log.events), "n_users": config.n_users,
            "generate_s": generated - started, "save_s": saved - generated}


def prepare_synthetic(directory, n_events, seed=7):
    """Generate, save, load and prepare a synthetic log; the prepared folder is `prepared/`.

    Args:
        directory: str or Path. Folder to write `log.csv` and `prepared/` into.
        n_events: int. Target number of events.
        seed: int. Generator seed. Defaults to 7.

    Returns:
        dict like `write_synthetic_csv`, plus `prepared` (Path) and `prepare_s` (load + prepare
        + write seconds).
    """
    info = write_synthetic_csv(directory, n_events, seed)
    started = time.perf_counter()
    out = Path(directory) / "prepared"
    prepare(load(info["path"], "generic"), PrepareConfig()).write(out)
    info.update(prepared=out, prepare_s=time.perf_counter() - started)
    return info


@contextlib.contextmanager
def temp_dir(keep=False, prefix="hiertcn-bench-"):
    """A temporary folder, deleted on exit unless `keep` (then its path is printed)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def peak_rss_bytes():
    """The process's peak resident set size so far (Linux reports `ru_maxrss` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_bytes(pid="self"):
    """Resident set size of a process now, from `/proc/<pid>/statm` (0 if it has exited)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class RssSampler:
    """Sample a process's RSS every `interval` seconds on a daemon thread, with timestamps.

    Meant to watch *another* process (a benchmark's subprocess), so the measured process runs
    nothing extra. Times are `time.perf_counter()` values, which on Linux read the system-wide
    monotonic clock, so they compare with the stage boundaries the subprocess reports.

    Args:
        pid: int or `"self"`. The process to watch. Defaults to `"self"`.
        interval: float. Seconds between samples. Defaults to 0.005.

    Example:

    >>> proc = subprocess.Popen(command)                  # doctest: +SKIP
    >>> with RssSampler(proc.pid) as rss:
    ...     proc.wait()
    >>> rss.peak(t_start, t_end)
    """

    def __init__(self, pid="self", interval=0.005):
        self.pid = pid
        self.interval = interval
        self.samples = []  # (perf_counter, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            self.samples.append((time.perf_counter(), rss_bytes(self.pid)))
            if self._stop.wait(self.interval):
                return

    def peak(self, start=float("-inf"), end=float("inf")):
        """The largest RSS sampled in `[start, end]` (0 if no sample fell in it)."""
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def format_table(headers, rows):
    """Plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if k == 0 else c.rjust(w)
                         for k, (c, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def emit_json(record, path=None):
    """Print `record` as one JSON line (prefixed `JSON `) and write it to `path` if given."""
    text = json.dumps(record, sort_keys=True)
    print("JSON " + text)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")


def machine():
    """The machine: CPUs, 1-minute load average (other work slows wall times), versions."""
    return {"cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
            "python": sys.version.split()[0], "numpy": np.__version__}
