"""A tiny click log whose items appear over time (6 days), for the fresh-item tests.

Every day d (0..5) each of 6 users has one session of 3 clicks at hour 8 + u: an old item, the
item `n{d}` published that day, and the item `n{d-1}` of the day before. So `n{d}` is first
seen on day d. Temporal cuts at the 51% and 68% time quantiles: days 0–2 train, day 3 valid,
days 4–5 test.
"""

import importlib.util
from pathlib import Path

DAY = 86400.0
T0 = 1507161600.0  # 2017-10-05T00:00Z


def fresh_rows():
    rows = []
    for d in range(6):
        for u in range(6):
            start = T0 + d * DAY + (8 + u) * 3600.0
            items = [f"o{(d + u) % 4}", f"n{d}", f"n{d - 1}" if d else f"o{(u + 1) % 4}"]
            for p, item in enumerate(items):
                rows.append((f"u{u}", item, start + 60.0 * p))
    return rows


def prepare_fresh(path):
    from hiertcn_keras.data.prepare import PrepareConfig, prepare

    spec = importlib.util.spec_from_file_location("data_conftest", Path(__file__).resolve().parents[1] / "data" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    prepare(module.make_log(fresh_rows()), PrepareConfig(max_session_len=4, split_quantiles=(0.51, 0.68))).write(path)
    return path
