import numpy as np
import pandas as pd
import pytest

from hiertcn_keras.data.loaders.base import LoadedLog


def make_log(rows, columns=("user", "item", "timestamp"), **extra):
    """A LoadedLog from (user, item, timestamp[, ...]) tuples, in source order."""
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["user"] = frame["user"].astype(str)
    frame["item"] = frame["item"].astype(str)
    frame["timestamp"] = frame["timestamp"].astype(float)
    if "event_type" in frame:
        frame["event_type"] = frame["event_type"].astype(str)
    frame["row"] = np.arange(len(frame), dtype=np.int64)
    return LoadedLog(frame, source="memory", format="generic", n_rows=len(frame), **extra)


@pytest.fixture
def log_factory():
    return make_log
