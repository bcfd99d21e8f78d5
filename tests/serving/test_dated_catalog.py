"""A dated item store served by a pretrained-space run: candidates, counts, checks, retrieval."""

import numpy as np
import pytest

from hiertcn_keras.artifacts.embedding_store import write_store
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.serving.dated_catalog import CandidateRetriever, dated_catalog
from hiertcn_keras.serving.serving_run import ServingRun


@pytest.fixture(scope="module")
def pretrained(pretrained_run):
    return ServingRun.open(pretrained_run)


def _store(path, run, *, keep, dim=6, extra=(), seed=0, fingerprint=None):
    """A store over the run's vocabulary (plus `extra` ids); rows of items not in `keep` are zero."""
    ids = [None] + list(run.item_ids[1:]) + list(extra)
    matrix = np.random.default_rng(seed).normal(size=(len(ids), dim)).astype(np.float32)
    keep_mask = np.zeros(len(ids), bool)
    keep_mask[list(keep)] = True
    matrix[~keep_mask] = 0.0
    config = {"until": 1_500_000_000.0}
    if fingerprint is not None:
        config["data_fingerprint"] = fingerprint
    return write_store(path, matrix, ids, config=config)


def test_candidates_are_the_non_zero_rows_and_the_rest_is_counted(pretrained, tmp_path):
    n = len(pretrained.item_ids)
    keep = range(1, n, 2)
    path = _store(tmp_path / "s", pretrained, keep=keep, extra=["brand-new"],
                  fingerprint=pretrained.record["data"]["fingerprint"])
    catalog, candidates, info = dated_catalog(pretrained, path)
    assert candidates.tolist() == [False] + [i % 2 == 1 for i in range(1, n)]
    assert info.n_candidates == len(keep) and info.n_missing == 0 and info.n_outside_vocabulary == 1
    assert info.stamp == "2017-07-14T02:40:00Z" and "dated store" in catalog.source
    assert catalog.index_of(["i3"])[0] == pretrained.item_ids.tolist().index("i3")  # the run's indices


def test_a_store_lacking_vocabulary_items_gives_them_zero_vectors(pretrained, tmp_path):
    ids = [None] + list(pretrained.item_ids[1:4])
    path = write_store(tmp_path / "few", np.ones((4, 6), np.float32), ids)
    catalog, candidates, info = dated_catalog(pretrained, path)
    assert info.n_missing == len(pretrained.item_ids) - 4 and info.n_candidates == 3
    assert not catalog.table[4:].any() and candidates[1:4].all() and not candidates[4:].any()


def test_bad_stores_are_refused_naming_the_file(pretrained, learned_run, tmp_path):
    n = len(pretrained.item_ids)
    wide = _store(tmp_path / "wide", pretrained, keep=range(1, n), dim=12)
    with pytest.raises(DataError, match=r"wide.*dim 12"):
        dated_catalog(pretrained, wide)
    other = _store(tmp_path / "other", pretrained, keep=range(1, n), fingerprint="0" * 16)
    with pytest.raises(DataError, match=r"other.*built for data 0000"):
        dated_catalog(pretrained, other)
    empty = _store(tmp_path / "empty", pretrained, keep=[])
    with pytest.raises(DataError, match="no non-zero vector"):
        dated_catalog(pretrained, empty)
    with pytest.raises(ValueError, match="--item-space pretrained"):
        dated_catalog(ServingRun.open(learned_run), wide)


def test_the_candidate_retriever_ranks_only_candidates_in_model_indices():
    rng = np.random.default_rng(1)
    table = rng.normal(size=(12, 4)).astype(np.float32)
    candidates = np.zeros(12, bool)
    candidates[[2, 5, 7, 11]] = True
    q = rng.normal(size=(3, 4)).astype(np.float32)
    indices, scores = CandidateRetriever(table, candidates).search(q, 10, exclude=[{5}, None, {3}])
    # Row 0 has 3 candidates left after excluding 5; no other item ever fills a slot.
    assert indices.shape == (3, 3)
    for row, excluded in enumerate((5, None, 3)):
        allowed = [i for i in (2, 5, 7, 11) if i != excluded]
        best = sorted(allowed, key=lambda i: -float(table[i] @ q[row]))[:3]
        assert indices[row].tolist() == best
        np.testing.assert_allclose(scores[row], table[best] @ q[row], rtol=1e-5)
