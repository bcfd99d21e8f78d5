"""A background thread that keeps quiet runs talking while the main thread is busy.

Keras calls a callback only between steps. The first step of a run (tracing and XLA
compilation), a step of a new batch shape, the validation at the end of an epoch and the test
split's scoring after training each hold the main thread for minutes on a large catalogue, so a
callback alone leaves a `--quiet` run silent exactly when a user wonders whether it hangs.
`Ticker` calls a function every few seconds on a daemon thread; the function decides whether a
line is due (`Heartbeat.tick`, `still_working`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time


class Ticker:
    """Calls `tick()` every `period` seconds on a daemon thread, between `start()` and `stop()`.

    Args:
        tick: callable of no arguments. Runs on the ticker's thread; must be cheap and must not
            raise (an exception ends the ticker, never the run).
        period: float > 0. Seconds between calls. Defaults to 5.

    Example:

    >>> ticker = Ticker(lambda: None, period=1.0)
    >>> ticker.start(); ticker.stop()
    """

    def __init__(self, tick, period=5.0):
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period}")
        self.tick, self.period = tick, float(period)
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        """Starts the thread (a second `start` while running does nothing)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hiertcn-ticker", daemon=True)
        self._thread.start()

    def stop(self):
        """Stops the thread and waits for it (at most one period)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.period + 1.0)
            self._thread = None

    def _run(self):
        while not self._stop.wait(self.period):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a progress line must never end a run
                return


def format_seconds(seconds):
    """`seconds` as `1h02m`, `4m05s` or `12s`."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Pulse:
    """Prints `LABEL: Xm so far` at most every `interval` seconds when `tick()` is called.

    Args:
        label: str. What the main thread is doing.
        interval: float. Seconds between lines. Defaults to 60.
        stream: file. Defaults to `sys.stdout`.
        clock: callable. Seconds; `time.monotonic` by default (a test passes a fake clock).
    """

    def __init__(self, label, interval=60.0, stream=None, clock=time.monotonic):
        self.label, self.interval, self.stream, self.clock = label, float(interval), stream, clock
        self.started = self.last = clock()

    def tick(self):
        now = self.clock()
        if now - self.last < self.interval:
            return
        self.last = now
        print(f"{self.label}: {format_seconds(now - self.started)} so far", file=self.stream or sys.stdout,
              flush=True)


@contextlib.contextmanager
def still_working(label, enabled=True, interval=60.0, period=5.0, stream=None):
    """Within the block, a line `LABEL: Xm so far` at least every `interval` seconds.

    Args:
        label: str. What the block does (e.g. `"scoring the test split"`).
        enabled: bool. `False` makes it a no-op (a run that prints progress bars instead).
            Defaults to `True`.
        interval: float. Seconds between lines. Defaults to 60.
        period: float. Seconds between the thread's checks. Defaults to 5.
        stream: file. Defaults to `sys.stdout`.
    """
    if not enabled:
        yield
        return
    pulse = Pulse(label, interval, stream)
    ticker = Ticker(pulse.tick, period=min(period, interval))
    ticker.start()
    try:
        yield
    finally:
        ticker.stop()
