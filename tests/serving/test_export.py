"""`hiertcn export`: the SavedModel's signature equals the Keras online path (to 1e-5, top-K exactly)."""

import json

import numpy as np
import pytest

from hiertcn_keras.cli import main
from hiertcn_keras.serving.online_recommender import OnlineRecommender

# Three sessions of user "x" (gaps of 9940 s and 10000 s, > the 1800 s rule); the last is open.
EVENTS = [("i1", 0.0), ("i2", 60.0), ("i3", 10000.0), ("i4", 20000.0), ("i5", 20060.0)]


@pytest.fixture(scope="module")
def exported(learned_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "saved"
    assert main(["export", str(learned_run), "--out", str(out), "--k", "5", "--sessions", "4"]) == 0
    return out


def test_signature_matches_the_keras_model(learned_run, exported):
    import tensorflow as tf

    direct = OnlineRecommender.open(learned_run, store="memory:")
    for item, t in EVENTS:
        direct.observe("x", item, t)
    expected = direct.recommend("x", 5)
    vocabulary = (exported / "item_ids.txt").read_text().split("\n")
    index = {item: i for i, item in enumerate(vocabulary) if i}
    sessions = np.zeros((2, 4, 4), np.int32)  # row 1: a user with no history (zero state)
    for s, items in enumerate([["i1", "i2"], ["i3"], ["i4", "i5"]]):
        sessions[0, s, : len(items)] = [index[i] for i in items]
    gaps = np.array([[0, 9940, 10000, 0], [0, 0, 0, 0]], np.float32)
    signature = tf.saved_model.load(str(exported)).signatures["serving_default"]
    assert sorted(signature.structured_input_signature[1]) == ["gaps", "sessions"]
    assert sorted(signature.structured_outputs) == ["embedding", "item_ids", "scores"]
    got = {key: value.numpy() for key, value in signature(sessions=tf.constant(sessions),
                                                           gaps=tf.constant(gaps)).items()}
    np.testing.assert_allclose(got["embedding"][0], expected.embedding, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["scores"][0], expected.scores, rtol=0, atol=1e-5)
    assert got["item_ids"][0].tolist() == expected.indices.tolist()
    assert [vocabulary[i] for i in got["item_ids"][0]] == expected.items
    cold = direct.recommend("nobody", 5)
    np.testing.assert_allclose(got["embedding"][1], cold.embedding, rtol=0, atol=1e-5)
    assert got["item_ids"][1].tolist() == cold.indices.tolist()
    assert 0 not in got["item_ids"]
    info = json.loads((exported / "hiertcn_export.json").read_text())
    assert info["signature"] == "serving_default" and info["k"] == 5


def test_export_refuses_to_overwrite(learned_run, exported, capsys):
    before = sorted(p.name for p in exported.iterdir())
    assert main(["export", str(learned_run), "--out", str(exported)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in exported.iterdir()) == before
    assert main(["export", str(learned_run), "--out", str(learned_run / "saved"), "--overwrite"]) == 2
    assert not (learned_run / "saved").exists()
