import numpy as np
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.data.prepare import PrepareConfig, prepare

H = 3600.0


@pytest.fixture
def temporal_dir(tmp_path, log_factory):
    # u1: events at 0..7 h; u2: events at 0, 1 h only (no valid/test targets).
    rows = [("u1", x, k * H) for k, x in enumerate("abababac")] + [("u2", "a", 0.5 * H), ("u2", "b", 1.5 * H)]
    prepare(log_factory(rows), PrepareConfig(split_quantiles=(0.7, 0.85))).write(tmp_path / "p")
    return tmp_path / "p"


def test_views_follow_the_temporal_protocol(temporal_dir):
    data = PreparedDataset(temporal_dir)
    split = data.events["split"]
    train, valid, test = data.view("train"), data.view("valid"), data.view("test")
    assert len(train) == (split == 0).sum() and train.score.all()
    # Evaluation views: only u1 has targets, but all its earlier events are visible inputs.
    assert set(valid.user.tolist()) == {data.users["id"].tolist().index("u1") + 1}
    assert valid.n_scored == ((split == 1) & (data.events["item"] <= data.n_catalogue)).sum()
    # Test targets are u1's last 3 events, but 'c' (the last) never occurs in training.
    assert len(test) == 8 and (split == 2).sum() == 3
    assert test.score.tolist() == [False] * 5 + [True, True, False]
    assert data.stats["splits"]["test"]["unseen_targets"] == 1


def test_paper_views_hold_only_that_splits_users(tmp_path, log_factory):
    rows = [(str(u), "ab"[k % 2], k * H) for u in range(1, 11) for k in range(3)]
    prepare(log_factory(rows), PrepareConfig(protocol="paper")).write(tmp_path / "p")
    data = PreparedDataset(tmp_path / "p")
    assert sorted(set(data.view("test").user.tolist())) == [10]
    assert len(data.view("train")) == 24 and data.view("valid").n_scored == 3


def test_not_a_prepared_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="missing events.parquet"):
        PreparedDataset(tmp_path)


def test_item_counts(temporal_dir):
    data = PreparedDataset(temporal_dir)
    counts = data.item_counts("train")
    assert counts[0] == 0 and counts.sum() == (data.events["split"] == 0).sum()
    assert (np.diff(counts[1 : data.n_catalogue + 1]) <= 0).all()  # catalogue ordered by count


def test_event_view_from_arrays_counts_positions_per_session_and_user():
    from hiertcn_keras.data.dataset import EventView

    view = EventView.from_arrays([1, 1, 1, 2], [5, 6, 7, 5], [0, 0, 1, 1])
    # user 1: session 0 = [5, 6], session 1 = [7]; user 2 also labelled session 1 but a new user.
    assert view.position.tolist() == [0, 1, 0, 0]
    assert view.timestamp.tolist() == [0.0, 1.0, 2.0, 3.0] and view.score.all() and len(view) == 4
