import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models import baselines
from hiertcn_keras.models.simple_baselines import SimpleBaseline

N_ITEMS, N_CAT = 8, 6  # item 7 is outside the catalogue


def test_registry_names_params_and_constructors():
    assert set(baselines.NAMES) == {"pop", "recentpop", "mv", "maxitem", "successor", "livesuccessor", "sr", "iknn",
                                    "sknn", "vsknn"}
    for name, cls in baselines.BASELINES.items():
        assert cls.name == name and issubclass(cls, SimpleBaseline)
        space = baselines.search_space(name)
        # Every candidate value is accepted by the constructor.
        for param, values in space.items():
            for value in values:
                baselines.make_baseline(name, **{param: value})
    assert baselines.search_space("pop") == {}
    assert baselines.categorical_space("sr")["window"] == ("categorical", (1, 2, 3, 5, 10))
    with pytest.raises(ValueError, match="baseline must be one of"):
        baselines.make_baseline("gru4rec")


@functools.cache
def sequence_models():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, 21), 6)
    train = EventView.from_arrays(users, rng.integers(1, N_CAT + 1, len(users)), np.arange(len(users)) // 3,
                                  split="train")
    return [cls(**kwargs).fit(train, N_ITEMS, N_CAT) for cls, kwargs in (
        (baselines.BASELINES["successor"], {}), (baselines.BASELINES["successor"], {"across_sessions": True}),
        (baselines.BASELINES["sr"], {"window": 3}), (baselines.BASELINES["iknn"], {"lam": 1.0}),
        (baselines.BASELINES["vsknn"], {"k": 3, "sample_size": 4}))]


@st.composite
def views_and_target(draw):
    n_users = draw(st.integers(1, 3))
    users, items, breaks = [], [], []
    for u in range(n_users):
        n = draw(st.integers(1, 10))
        users += [u + 1] * n
        items += draw(st.lists(st.integers(1, N_ITEMS - 1), min_size=n, max_size=n))
        breaks += [True] + draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
    target = draw(st.integers(0, len(items) - 1))
    later = draw(st.lists(st.integers(1, N_ITEMS - 1), min_size=len(items), max_size=len(items)))
    return np.array(users), np.array(items), np.cumsum(breaks), target, np.array(later)


@settings(max_examples=40, deadline=None)
@given(views_and_target())
def test_no_leakage_and_chunking(case):
    # An event's scores depend only on its user's earlier events: changing the target and every
    # later event, or cutting the view to the user's prefix, changes nothing; nor does the chunk size.
    users, items, sessions, target, later = case
    view = EventView.from_arrays(users, items, sessions)
    changed_items = items.copy()
    changed_items[target:] = later[target:]
    changed = EventView.from_arrays(users, changed_items, sessions)
    start = int(np.searchsorted(users, users[target]))
    cut = EventView.from_arrays(users[start : target + 1], items[start : target + 1], sessions[start : target + 1])
    for model in sequence_models():
        expected = model.scores(view, [target])
        np.testing.assert_array_equal(model.scores(changed, [target]), expected, err_msg=model.name)
        np.testing.assert_array_equal(model.scores(cut, [target - start]), expected, err_msg=model.name)
        everything = np.arange(len(items))[::-1]
        whole = model.scores(view, everything)
        model.chunk_size, saved = 2, model.chunk_size
        try:
            np.testing.assert_allclose(model.scores(view, everything), whole, rtol=1e-6, err_msg=model.name)
        finally:
            model.chunk_size = saved


def test_cli_lists_every_registered_baseline():
    from hiertcn_keras.cli.common import SIMPLE

    assert sorted(SIMPLE) == sorted(baselines.NAMES)
