"""The tiny prepared dataset shared by the evaluation and trainer tests.

6 users × 4 sessions of 2–4 events (sessions 2 h apart, L = 4), temporal 80/90% cuts; item
"fresh" first appears in the test period, so it is an input there but never a target.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hiertcn_keras.data.prepare import PrepareConfig, prepare


def _make_log():
    # tests/data/conftest.py builds a LoadedLog from tuples; with --import-mode=importlib a
    # conftest is not importable by name, so load it from its path.
    spec = importlib.util.spec_from_file_location(
        "data_conftest", Path(__file__).resolve().parents[1] / "data" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_log


def tiny_log_rows():
    rng = np.random.default_rng(0)
    rows = []
    for k in range(6):
        for j in range(4):
            for p in range(int(rng.integers(2, 5))):
                item = f"i{int(rng.integers(0, 12))}"
                if (k, j, p) == (5, 3, 1):
                    item = "fresh"  # first seen in the test period: an input, never a target
                rows.append((f"u{k}", item, j * 7200 + k * 97 + p * 30))
    return rows


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "prepared"
    prepare(_make_log()(tiny_log_rows()), PrepareConfig(max_session_len=4)).write(path)
    return path


@pytest.fixture(scope="session")
def fresh_data_dir(tmp_path_factory):
    """`fresh_log.fresh_rows` prepared: items first seen on each of 6 days, days 4–5 are test."""
    spec = importlib.util.spec_from_file_location("fresh_log", Path(__file__).resolve().parent / "fresh_log.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.prepare_fresh(tmp_path_factory.mktemp("fresh") / "prepared")
