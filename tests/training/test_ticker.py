import io
import threading

import pytest

from hiertcn_keras.training import ticker as tk


def test_ticker_calls_its_function_until_stopped():
    calls = threading.Event()
    seen = []

    def tick():
        seen.append(1)
        if len(seen) >= 3:
            calls.set()

    ticker = tk.Ticker(tick, period=0.01)
    ticker.start()
    assert calls.wait(5.0)
    ticker.stop()
    after = len(seen)
    calls.clear()
    assert not calls.wait(0.05) and len(seen) == after


def test_a_failing_tick_ends_the_ticker_not_the_caller():
    def tick():
        raise RuntimeError("boom")

    ticker = tk.Ticker(tick, period=0.01)
    ticker.start()
    ticker._thread.join(timeout=5.0)
    assert not ticker._thread.is_alive()
    ticker.stop()


def test_ticker_rejects_a_non_positive_period():
    with pytest.raises(ValueError, match="period"):
        tk.Ticker(lambda: None, period=0)


def test_pulse_prints_at_most_every_interval():
    now = [0.0]
    stream = io.StringIO()
    pulse = tk.Pulse("scoring the test split", interval=60, stream=stream, clock=lambda: now[0])
    for _ in range(13):  # 130 s, checked every 10 s
        now[0] += 10.0
        pulse.tick()
    assert stream.getvalue().splitlines() == ["scoring the test split: 1m00s so far",
                                              "scoring the test split: 2m00s so far"]


def test_still_working_prints_while_the_block_runs_and_stops_after(capsys):
    with tk.still_working("busy", interval=0.05, period=0.01):
        threading.Event().wait(0.3)
    out = capsys.readouterr().out
    assert out.startswith("busy: 0s so far")
    threading.Event().wait(0.1)
    assert capsys.readouterr().out == ""


def test_still_working_disabled_prints_nothing(capsys):
    with tk.still_working("busy", enabled=False, interval=0.01, period=0.01):
        threading.Event().wait(0.1)
    assert capsys.readouterr().out == ""


def test_format_seconds():
    assert [tk.format_seconds(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]
