"""Progress with an end: the steps of every epoch known in advance, a bar with a total and an
ETA, a line at least every minute in quiet runs, and a first line that says what is trained.

The queue batcher's plan of an epoch is a pure function of the epoch number (its seeded user
order), so the number of steps of epoch e is `batcher.n_batches(e)` before the epoch starts,
exactly the batches the data pipeline will yield. Epochs differ slightly in length (the
queues are balanced per shuffle), so the total is set at the start of each epoch; a resumed
run counts from the epoch it resumes at, as the pipeline does.
"""

from __future__ import annotations

import sys
import threading
import time

import keras

from hiertcn_keras.models.batch_choice import describe_batch
from hiertcn_keras.models.loss_choice import describe_choice, describe_negatives
from hiertcn_keras.training.ticker import Ticker, format_seconds

__all__ = ["BoundedProgbar", "EpochSteps", "EpochTimeEstimate", "Heartbeat", "format_seconds", "run_header"]


class EpochSteps:
    """Steps of every epoch of a run, from the queue plan.

    Args:
        batcher: `QueueBatcher` of the training split.
        first_epoch: int. The epoch the data pipeline starts at (a resumed run's epochs done).
    """

    def __init__(self, batcher, first_epoch=0):
        self.batcher, self.first_epoch = batcher, int(first_epoch)
        self._cache = {}

    def __call__(self, epoch):
        """Steps of epoch `epoch` (absolute, counting resumed epochs)."""
        if epoch not in self._cache:
            self._cache[epoch] = self.batcher.n_batches(epoch)
        return self._cache[epoch]


class _EpochCounter(keras.callbacks.Callback):
    """Numbers epochs as the data pipeline does: `first_epoch`, then one more per pass."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.epoch = steps.first_epoch - 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch += 1
        self.target = self.steps(self.epoch)


class BoundedProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar with this epoch's exact number of steps as its total (so an ETA).

    Keras, given no `steps_per_epoch`, shows `k/Unknown` in the first epoch and then takes the
    first epoch's length for every later one; this bar takes each epoch's own.

    Args:
        steps: `EpochSteps`.
    """

    def __init__(self, steps):
        super().__init__()
        self._counter = _EpochCounter(steps)

    def on_epoch_begin(self, epoch, logs=None):
        self._counter.on_epoch_begin(epoch)
        self.target = self._counter.target
        super().on_epoch_begin(epoch, logs)


class Heartbeat(keras.callbacks.Callback):
    """Prints `epoch e/E step k/n, X events/s, ETA` at least every `interval` seconds.

    For quiet runs (`verbose=2`: one line per epoch), so that a long epoch is never silent. A
    `Ticker` thread (started with training, stopped at its end) also prints a line when no step
    has ended for `interval` seconds: the first step compiling, a step still running (a new batch
    shape compiles once), or the epoch's validation after its last step.

    Args:
        steps: `EpochSteps`.
        events_per_step: float. Training events per step (events of an epoch / its steps).
        epochs: int. The run's epoch cap (for the `e/E`).
        interval: float. Seconds between lines. Defaults to 60.
        stream: file. Defaults to `sys.stdout`.
        clock: callable. Seconds; `time.monotonic` by default (a test passes a fake clock).
        period: float or `None`. Seconds between the thread's checks; `None` starts no thread
            (a test calls `tick()` itself). Defaults to 5.
    """

    def __init__(self, steps, events_per_step, epochs, interval=60.0, stream=None, clock=time.monotonic,
                 period=5.0):
        super().__init__()
        self._counter = _EpochCounter(steps)
        self.events_per_step, self.epochs, self.interval = float(events_per_step), int(epochs), float(interval)
        self.stream, self.clock = stream, clock
        self._lock = threading.Lock()
        self._ticker = None if period is None else Ticker(self.tick, period=min(float(period), self.interval))
        self._in_epoch = False

    def on_train_begin(self, logs=None):
        if self._ticker is not None:
            self._ticker.start()

    def on_train_end(self, logs=None):
        if self._ticker is not None:
            self._ticker.stop()

    def on_epoch_begin(self, epoch, logs=None):
        with self._lock:
            self._counter.on_epoch_begin(epoch)
            self._started = self._last = self._last_step = self.clock()
            self._first_done = None
            self._done = 0
            self._in_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        with self._lock:
            self._in_epoch = False

    def _print(self, line):
        print(line, file=self.stream or sys.stdout, flush=True)

    def on_train_batch_end(self, batch, logs=None):
        with self._lock:
            now = self.clock()
            self._done, self._last_step = batch + 1, now
            if batch == 0:
                self._first_done = now  # the rate leaves out the first step (tracing, compilation)
            if now - self._last < self.interval:
                return
            self._last = now
            done, total = batch + 1, self._counter.target
            head = f"epoch {self._counter.epoch + 1}/{self.epochs} step {done}/{total}"
            if done == 1:
                line = f"{head}, first step (with compilation) took {format_seconds(now - self._started)}"
            else:
                rate = (done - 1) / max(now - self._first_done, 1e-9)
                line = (f"{head}, {rate * self.events_per_step:,.0f} events/s, "
                        f"ETA {format_seconds((total - done) / rate)}")
            self._print(line)

    def tick(self):
        """The thread's check: a line when nothing was printed for `interval` seconds."""
        with self._lock:
            now = self.clock()
            # Only when no step ended (and nothing was printed) for a whole interval: while steps
            # end, `on_train_batch_end` prints the line with the rate and the ETA.
            if not self._in_epoch or now - max(self._last, self._last_step) < self.interval:
                return
            self._last = now
            done, total = self._done, self._counter.target
            head = f"epoch {self._counter.epoch + 1}/{self.epochs}"
            if done == 0:
                line = (f"{head} step 1/{total}: the first step (tracing and compilation) is still "
                        f"running, {format_seconds(now - self._started)} so far")
            elif done >= total or getattr(self.model, "stop_training", False):
                line = (f"{head} step {done}/{total} done: validating, "
                        f"{format_seconds(now - self._last_step)} so far")
            else:
                line = (f"{head} step {done + 1}/{total} still running after "
                        f"{format_seconds(now - self._last_step)} (a new batch shape compiles once)")
            self._print(line)


class EpochTimeEstimate(keras.callbacks.Callback):
    """After the first steps, prints the measured time per step and the epoch time it implies.

    The first step (tracing and XLA compilation) is left out of the timing: the estimate is the
    mean of steps 2 .. `timed_steps` + 1.

    Args:
        steps: `EpochSteps`.
        timed_steps: int. Steps timed after the first. Defaults to 5.
        stream: file. Defaults to `sys.stdout`.
    """

    def __init__(self, steps, timed_steps=5, stream=None):
        super().__init__()
        self._counter = _EpochCounter(steps)
        self.timed_steps, self.stream = int(timed_steps), stream
        self.seconds_per_step = None
        self._done = False

    def on_epoch_begin(self, epoch, logs=None):
        self._counter.on_epoch_begin(epoch)

    def on_train_batch_end(self, batch, logs=None):
        if self._done:
            return
        if batch == 0:
            self._t0 = time.perf_counter()
            return
        total = self._counter.target
        if batch < self.timed_steps and batch + 1 < total:
            return
        self._done = True
        self.seconds_per_step = (time.perf_counter() - self._t0) / batch
        print(f"\nmeasured {self.seconds_per_step * 1000:,.0f} ms/step over steps 2-{batch + 1} "
              f"(the first, compiling, left out): estimated epoch time "
              f"{format_seconds(self.seconds_per_step * total)} for {total:,} steps "
              f"(plus validation)", file=self.stream or sys.stdout, flush=True)


def run_header(config, steps, events_per_epoch, users):
    """The first line of a run: data size, loss, steps per epoch.

    Args:
        config: `ModelConfig`.
        steps: int. Steps of the first epoch.
        events_per_epoch: int. Training events per epoch.
        users: int. Training users.

    Returns:
        str.
    """
    loss = config.loss + (f" with {describe_negatives(config)}" if config.loss == "sampled_softmax" else "")
    loss += f" ({describe_choice(config)})"
    batch = f" ({describe_batch(config, events_per_epoch)})" if config.batch_by_default else ""
    return (f"training {config.model} on {events_per_epoch:,} events, {users:,} users, catalogue "
            f"{config.n_catalogue:,} items; loss {loss}; batch {config.batch_size}{batch}; "
            f"{steps:,} steps per epoch (epoch time printed after the first steps)")
