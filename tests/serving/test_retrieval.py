"""Top-K retrieval: exact chunked search against a NumPy full sort; faiss against exact."""

import numpy as np
import pytest

from hiertcn_keras.serving.retrieval import ExactRetriever
from hiertcn_keras.serving.retrievers import build_retriever


@pytest.fixture
def table():
    return np.random.default_rng(0).normal(size=(301, 8)).astype(np.float32)  # N = 300, row 0 unused


def full_sort(queries, table, bias, k, exclude=()):
    scores = queries @ table[1:].T + (0 if bias is None else bias[1:])
    scores[:, [i - 1 for i in exclude]] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order + 1, np.take_along_axis(scores, order, 1)


@pytest.mark.parametrize("chunk_rows", [7, 64, 65536])
@pytest.mark.parametrize("with_bias", [False, True])
def test_exact_equals_a_full_sort_whatever_the_chunking(table, chunk_rows, with_bias):
    bias = np.random.default_rng(1).normal(size=301).astype(np.float32) if with_bias else None
    queries = np.random.default_rng(2).normal(size=(5, 8)).astype(np.float32)
    indices, scores = ExactRetriever(table, bias, chunk_rows=chunk_rows).search(queries, 10)
    ref_i, ref_s = full_sort(queries, table, bias, 10)
    np.testing.assert_array_equal(indices, ref_i)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-6)


def test_exclusions_and_k_larger_than_the_catalogue(table):
    q = np.random.default_rng(3).normal(size=8).astype(np.float32)
    retriever = ExactRetriever(table[:6], chunk_rows=2)  # N = 5
    top, _ = retriever.search(q, 2)
    indices, _ = retriever.search(q, 10, exclude=[set(top[0].tolist())])
    assert indices.shape == (1, 3) and not set(top[0].tolist()) & set(indices[0].tolist())


def test_ties_list_the_lower_index_first():
    table = np.zeros((5, 2), np.float32)
    table[1:] = [[1, 0], [2, 0], [2, 0], [1, 0]]  # items 2 and 3 tie, 1 and 4 tie
    indices, _ = ExactRetriever(table, chunk_rows=3).search(np.array([1.0, 0.0]), 4)
    assert indices[0].tolist() == [2, 3, 1, 4]


def test_bad_arguments_are_named(table):
    retriever = ExactRetriever(table)
    with pytest.raises(ValueError, match=r"queries must be \[Q, 8\]"):
        retriever.search(np.zeros((1, 3)), 5)
    with pytest.raises(ValueError, match="k must be"):
        retriever.search(np.zeros(8), 0)
    with pytest.raises(ValueError, match="retrieval must be"):
        build_retriever("annoy", table)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_faiss_recall_is_measured_and_high_on_a_small_catalogue(table, kind):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    bias = np.random.default_rng(4).normal(size=301).astype(np.float32)
    retriever = build_retriever(kind, table, bias, threads=1, n_recall_queries=50, nlist=8, nprobe=8)
    assert retriever.report["kind"] == kind and retriever.report["n_recall_queries"] == 50
    # nprobe = nlist (IVF) and ef 128 ≫ N (HNSW) make both searches exhaustive: recall 1.
    assert retriever.report["recall@10"] == 1.0
    queries = np.random.default_rng(5).normal(size=(4, 8)).astype(np.float32)
    exact_i, exact_s = ExactRetriever(table, bias).search(queries, 10, exclude=[{1, 2}] * 4)
    approx_i, approx_s = retriever.search(queries, 10, exclude=[{1, 2}] * 4)
    np.testing.assert_array_equal(approx_i, exact_i)
    np.testing.assert_allclose(approx_s, exact_s, rtol=1e-5, atol=1e-5)


def test_ivf_training_rows_per_cell_are_within_faiss_range():
    pytest.importorskip("faiss")
    from hiertcn_keras.serving.faiss_retriever import FaissRetriever

    table = np.random.default_rng(0).normal(size=(401, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=r"train_per_cell must be in \[39, 256\]"):
        FaissRetriever(table, kind="ivf", nlist=4, train_per_cell=10)
    index = FaissRetriever(table, kind="ivf", nlist=4, train_per_cell=39, threads=1)
    assert index.index.ntotal == 400 and index.index.is_trained


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_a_boost_is_added_exactly_and_faiss_rescores_the_boosted_items(kind):
    """The served recency prior's boost: exact search adds it to `u · v + b`; faiss unites the
    boosted items with its candidates and re-scores the union, with exclusions applied to both
    (every cell probed / ef ≥ N, so the index itself is exact and the results must be equal)."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    rng = np.random.default_rng(4)
    n, dim = 3000, 8
    table = np.zeros((n + 1, dim), np.float32)
    table[1:] = rng.normal(size=(n, dim))
    bias = rng.normal(size=n + 1).astype(np.float32)
    hot = rng.choice(np.arange(1, n + 1), 300, replace=False)  # clicked in the window: a tenth
    values = (1.0 * np.log1p(rng.integers(1, 20, len(hot)))).astype(np.float32)
    queries = rng.normal(size=(6, dim)).astype(np.float32)
    exclude = [set(hot[:3].tolist()), set(), {1, 2}, set(), set(hot[10:40].tolist()), set()]
    options = {"nlist": 8, "nprobe": 8, "train_per_cell": 39} if kind == "ivf" else {"ef_search": 4000}
    approx = build_retriever(kind, table, bias, threads=1, **options)
    exact = ExactRetriever(table, bias)
    want_i, want_s = exact.search(queries, 10, exclude=exclude, boost=(hot, values))
    full = exact.scores(queries) + 0  # the boost by hand: u·v + boost + b
    full -= bias[1:]
    full[:, hot - 1] += values
    full += bias[1:]
    np.testing.assert_allclose(want_s, np.take_along_axis(full, want_i - 1, 1), atol=1e-5, rtol=0)
    got_i, got_s = approx.search(queries, 10, exclude=exclude, boost=(hot, values))
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s, atol=1e-5, rtol=0)
    for row, items in enumerate(exclude):
        assert not items & set(got_i[row].tolist())


def test_ivf_plan_follows_the_square_root_rule():
    from hiertcn_keras.serving.faiss_retriever import ivf_plan

    assert ivf_plan(5_000_000) == {"nlist": 8944, "quantizer": "hnsw", "codes": "pq4-dim"}
    assert ivf_plan(1_000_000) == {"nlist": 4000, "quantizer": "flat", "codes": "pq4-dim"}
    assert ivf_plan(199_999) == {"nlist": 1789, "quantizer": "flat", "codes": "flat"}
    assert ivf_plan(100_000) == {"nlist": 1265, "quantizer": "flat", "codes": "flat"}
    assert ivf_plan(20_000) == {"nlist": 512, "quantizer": "flat", "codes": "flat"}  # capped at N / 39
    assert ivf_plan(10) == {"nlist": 1, "quantizer": "flat", "codes": "flat"}
    assert ivf_plan(5000, nlist=64, quantizer="hnsw", codes="sq8") == {"nlist": 64, "quantizer": "hnsw", "codes": "sq8"}
    with pytest.raises(ValueError, match="quantizer must be"):
        ivf_plan(100, quantizer="pq")
    with pytest.raises(ValueError, match="codes must be"):
        ivf_plan(100, codes="pq8")


def clustered(n, dim, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    table = np.zeros((n + 1, dim), np.float32)
    table[1:] = centres[rng.integers(0, 40, n)] + 0.4 * rng.normal(size=(n, dim))
    return table


@pytest.mark.parametrize("codes", ["flat", "sq8"])
def test_an_hnsw_quantizer_and_compressed_codes_with_every_cell_probed_equal_exact_search(codes):
    """The cells are chosen through an HNSW graph over the centroids and the vectors are stored
    as floats or 8-bit codes; with every cell probed the candidates are re-scored
    exactly, so indices and scores equal exact search, exclusions and bias included."""
    faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    table = clustered(3000, 8, 0)
    bias = np.random.default_rng(1).normal(size=3001).astype(np.float32) * 0.1
    retriever = build_retriever("ivf", table, bias, threads=1, nlist=32, nprobe=32, quantizer="hnsw", codes=codes,
                                n_recall_queries=50)
    assert retriever.report["quantizer"] == "hnsw" and retriever.report["codes"] == codes
    graph = faiss.downcast_index(retriever.index.quantizer)
    assert isinstance(graph, faiss.IndexHNSWFlat) and graph.ntotal == 32  # the graph holds the k-means centroids
    # Every item sits in the cell of its best centroid by inner product (assigned by a flat scan).
    rows = np.concatenate([table[1:], bias[1:, None]], axis=1)
    centroids = graph.reconstruct_n(0, 32)
    invlists = retriever.index.invlists
    cell_of = np.empty(3000, np.int64)
    for cell in range(32):
        ids = faiss.rev_swig_ptr(invlists.get_ids(cell), invlists.list_size(cell)).copy()
        cell_of[ids] = cell
    np.testing.assert_array_equal(cell_of, np.argmax(rows @ centroids.T, axis=1))
    assert retriever.report["index_bytes"] >= 3000 * {"flat": 36, "sq8": 9}[codes]
    queries = np.random.default_rng(5).normal(size=(6, 8)).astype(np.float32)
    exclude = [{1, 2}, set(), {3}, set(), set(), {4, 5, 6}]
    want_i, want_s = ExactRetriever(table, bias).search(queries, 10, exclude=exclude)
    got_i, got_s = retriever.search(queries, 10, exclude=exclude)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s, atol=1e-5, rtol=0)
    retriever.set_nprobe(3)
    assert retriever.nprobe == 3 and graph.hnsw.efSearch == 64
    retriever.set_nprobe(40)
    assert retriever.nprobe == 32 and graph.hnsw.efSearch == 64


def test_4_bit_pq_codes_return_exactly_scored_items_in_the_exact_order():
    """4-bit PQ is lossy even with every cell probed: its 10·k candidates are re-scored exactly,
    so what it returns is scored and ordered as exact search would, and recall stays high."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    from hiertcn_keras.serving.faiss_retriever import recall_at_k

    table = clustered(3000, 16, 0)
    bias = np.random.default_rng(1).normal(size=3001).astype(np.float32) * 0.1  # 17 columns: one zero pad
    retriever = build_retriever("ivf", table, bias, threads=1, nlist=16, nprobe=16, codes="pq4", n_recall_queries=50)
    assert retriever.report["codes"] == "pq4" and retriever.index.d == 18 and retriever.index.code_size == 9 // 2 + 1
    queries = np.random.default_rng(5).normal(size=(20, 16)).astype(np.float32)
    exact = ExactRetriever(table, bias)
    got_i, got_s = retriever.search(queries, 10, exclude=[{1, 2}] * 20)
    assert not np.isin(got_i, [1, 2]).any()
    full = exact.scores(queries)
    np.testing.assert_allclose(got_s, np.take_along_axis(full, got_i - 1, 1), atol=1e-5, rtol=0)
    assert (np.diff(got_s, axis=1) <= 0).all()
    assert recall_at_k(got_i, exact.search(queries, 10, exclude=[{1, 2}] * 20)[0]) >= 0.9


def test_nprobe_is_calibrated_to_the_recall_target_and_reported_on_held_out_queries():
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    from hiertcn_keras.serving.faiss_retriever import CONFIDENCE_Z, lower_bound, recall_at_k, recall_per_query

    table = clustered(4000, 8, 2)
    queries = np.random.default_rng(3).normal(size=(200, 8)).astype(np.float32)
    retriever = build_retriever("ivf", table, threads=1, nlist=64, recall_target=0.95, recall_queries=queries)
    report = retriever.report
    assert report["recall_target_reached"] and report["n_calibration_queries"] == report["n_recall_queries"] == 100
    assert report["recall_query_source"].startswith("given queries, held out")
    assert report["build_cpu_seconds"] > 0 and report["calibration_cpu_seconds"] > 0
    assert report["recall_margin_z"] == CONFIDENCE_Z
    chosen = retriever.nprobe
    assert report["nprobe"] == chosen and 1 < chosen < 64  # neither trivial nor exhaustive on this data
    tried = {int(p): r for p, r in report["nprobe_tried"].items()}
    assert tried[chosen] == report["calibration_recall@10"]
    calibration, exact_calibration = queries[0::2], ExactRetriever(table).search(queries[0::2], 10)[0]

    def bound(nprobe):
        retriever.set_nprobe(nprobe)
        return lower_bound(recall_per_query(retriever.search(calibration, 10)[0], exact_calibration))

    # The smallest nprobe whose recall clears the target by the margin (not its mean alone).
    assert bound(chosen - 1) < 0.95 <= bound(chosen) == pytest.approx(report["calibration_recall_lower_bound@10"],
                                                                     abs=1e-4)
    assert report["calibration_recall_lower_bound@10"] < report["calibration_recall@10"]
    retriever.set_nprobe(chosen)
    exact, _ = ExactRetriever(table).search(queries[1::2], 10)
    assert report["recall@10"] == round(recall_at_k(retriever.search(queries[1::2], 10)[0], exact), 4)


def test_the_calibration_margin_holds_the_target_on_held_out_queries_where_the_mean_alone_does_not():
    """The smallest nprobe whose mean recall on the calibration queries reaches the target
    over-fits them: on the held-out queries its recall lands below the target in many of 20
    random splits. With the margin (the lower confidence bound must clear it) it holds in all
    but at most one, for a few cells more."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    from hiertcn_keras.serving.faiss_retriever import CONFIDENCE_Z, recall_at_k

    table = clustered(4000, 16, 2)
    retriever = build_retriever("ivf", table, threads=1, nlist=64, nprobe=8, n_recall_queries=20)
    queries = np.random.default_rng(3).normal(size=(2000, 16)).astype(np.float32)
    exact, _ = ExactRetriever(table).search(queries, 10)
    below, cells = {}, {}
    for margin in (0.0, CONFIDENCE_Z):
        below[margin], cells[margin] = 0, []
        for split in range(20):
            order = np.random.default_rng(split).permutation(len(queries))
            calibration, held_out = order[:150], order[150:]
            report = retriever.calibrate(queries[calibration], exact[calibration], 0.95, margin=margin)
            assert report["recall_target_reached"]
            below[margin] += recall_at_k(retriever.search(queries[held_out], 10)[0], exact[held_out]) < 0.95
            cells[margin].append(retriever.nprobe)
    assert below[0.0] >= 4 and below[CONFIDENCE_Z] <= 1
    assert np.mean(cells[0.0]) < np.mean(cells[CONFIDENCE_Z]) <= np.mean(cells[0.0]) + 3


def test_recall_target_arguments_are_checked(table):
    pytest.importorskip("faiss")
    with pytest.raises(ValueError, match="nprobe or recall_target, not both"):
        build_retriever("ivf", table, nlist=4, nprobe=2, recall_target=0.9)
    with pytest.raises(ValueError, match=r"recall_target must be in \(0, 1\]"):
        build_retriever("ivf", table, nlist=4, recall_target=1.5)
    with pytest.raises(ValueError, match="kind='ivf'"):
        build_retriever("hnsw", table, recall_target=0.9)


@pytest.mark.parametrize("codes", ["pq4-dim", "pq4"])
def test_a_re_rank_as_deep_as_the_catalogue_makes_4_bit_codes_exact_ties_included(codes):
    """With every cell probed and `rerank · k` ≥ N every item is a candidate and is re-scored
    exactly, so lossy 4-bit codes return exact search's answer, its tie rule (lower index first
    among equal scores, here from duplicated rows), bias and exclusions included."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    table = clustered(600, 16, 4)
    table[301:601] = table[1:301]  # every item has a twin: equal scores at the k-th place
    bias = np.zeros(601, np.float32)
    bias[1:301] = bias[301:601] = np.random.default_rng(1).normal(size=300) * 0.1  # 17 columns
    retriever = build_retriever("ivf", table, bias, threads=1, nlist=4, nprobe=4, codes=codes, rerank=60,
                                n_recall_queries=20)
    assert retriever.rerank == 60 and retriever.report["rerank"] == 60
    # One 4-bit code per dimension (17 of them) or per pair (18 columns with a zero pad).
    assert (retriever.index.pq.M, retriever.index.d) == {"pq4-dim": (17, 17), "pq4": (9, 18)}[codes]
    queries = np.random.default_rng(6).normal(size=(7, 16)).astype(np.float32)
    exclude = [{1, 2}, set(), {301}, set(), set(), set(range(5, 40)), set()]
    want_i, want_s = ExactRetriever(table, bias).search(queries, 10, exclude=exclude)
    got_i, got_s = retriever.search(queries, 10, exclude=exclude)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s, atol=1e-5, rtol=0)
    retriever.set_rerank(1)  # the codes' own top-10: lossy, so not all of exact search's
    assert recall_at_k_of(retriever.search(queries, 10)[0], ExactRetriever(table, bias).search(queries, 10)[0]) < 1.0


def recall_at_k_of(approx, exact):
    from hiertcn_keras.serving.faiss_retriever import recall_at_k

    return recall_at_k(approx, exact)


def test_a_recall_target_calibrates_the_fewest_cells_per_re_rank_depth_and_keeps_the_cheapest_pair():
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    from hiertcn_keras.serving.faiss_retriever import (RERANK_CALIBRATED, SHALLOW_RERANK_TOLERANCE, lower_bound,
                                                       recall_per_query)

    table = clustered(4000, 16, 2)
    queries = np.random.default_rng(3).normal(size=(400, 16)).astype(np.float32)
    retriever = build_retriever("ivf", table, threads=1, nlist=64, codes="pq4", recall_target=0.95,
                                recall_queries=queries)
    report = retriever.report
    depths = RERANK_CALIBRATED["pq4"]
    assert report["recall_target_reached"] and report["rerank"] == retriever.rerank
    pairs = {int(d): pair for d, pair in report["pairs_costed"].items()}
    assert len(pairs) >= 2 and set(pairs) <= set(depths)
    assert len({pair["nprobe"] for pair in pairs.values()}) >= 2  # a shallower re-rank needs more cells
    chosen = (retriever.nprobe, retriever.rerank)
    costs = {d: pair["cpu_ms_per_query"] for d, pair in pairs.items()}
    assert chosen == (pairs[chosen[1]]["nprobe"], chosen[1]) and min(costs.values()) > 0
    # The shallowest pair within the tolerance of the cheapest one's timed cost.
    assert chosen[1] == min(d for d, c in costs.items() if c <= SHALLOW_RERANK_TOLERANCE * min(costs.values()))
    calibration, exact = queries[0::2], ExactRetriever(table).search(queries[0::2], 10)[0]

    def bound(nprobe, depth):
        retriever.set_nprobe(nprobe)
        retriever.set_rerank(depth)
        return lower_bound(recall_per_query(retriever.search(calibration, 10)[0], exact))

    for depth, pair in pairs.items():  # each the fewest cells that clear the target at its depth
        assert bound(pair["nprobe"] - 1, depth) < 0.95 <= bound(pair["nprobe"], depth)
    by_depth = {int(d): r for d, r in report["rerank_tried"].items()}  # at the nprobe chosen
    assert sorted(by_depth) == sorted(depths) and by_depth[chosen[1]] == report["calibration_recall@10"]


def test_a_given_re_rank_is_kept_by_the_calibration_and_checked():
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    table = clustered(2000, 16, 2)
    queries = np.random.default_rng(3).normal(size=(100, 16)).astype(np.float32)
    retriever = build_retriever("ivf", table, threads=1, nlist=32, codes="pq4", rerank=24, recall_target=0.9,
                                recall_queries=queries)
    assert retriever.rerank == 24 and "rerank_tried" not in retriever.report
    with pytest.raises(ValueError, match="rerank must be an int ≥ 1"):
        build_retriever("ivf", table, nlist=4, rerank=0)
    with pytest.raises(ValueError, match="applies to kind='ivf'"):
        build_retriever("hnsw", table, rerank=4)
    with pytest.raises(ValueError, match="rerank must be ≥ 1"):
        retriever.set_rerank(0)


def test_exclusions_short_and_long_are_both_applied_by_ivf():
    """A session's few items are compared pairwise with the candidates, a long list goes
    through `np.isin`: with every cell probed both equal exact search's exclusions."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    from hiertcn_keras.serving.faiss_retriever import EXCLUDE_BROADCAST_UP_TO

    table = clustered(2000, 8, 7)
    retriever = build_retriever("ivf", table, threads=1, nlist=8, nprobe=8, n_recall_queries=20)
    queries = np.random.default_rng(8).normal(size=(3, 8)).astype(np.float32)
    exact = ExactRetriever(table)
    for long in (False, True):
        top = exact.search(queries, 400)[0]
        width = EXCLUDE_BROADCAST_UP_TO + 36 if long else 5
        exclude = [set(top[row, :width].tolist()) if row != 1 else set() for row in range(3)]
        want_i, _ = exact.search(queries, 10, exclude=exclude)
        got_i, _ = retriever.search(queries, 10, exclude=exclude)
        np.testing.assert_array_equal(got_i, want_i)
        assert not set(got_i[0].tolist()) & exclude[0]


@pytest.mark.parametrize("codes", ["flat", "sq8", "pq4-dim"])
def test_a_flat_quantizers_cells_chosen_in_numpy_give_faiss_own_candidates(codes):
    """With a flat quantizer the cells of a query are chosen by one NumPy product with the
    centroids (`search_preassigned`), not faiss's scan of them: the same candidates, in the
    same order, as faiss's own `search`."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    table = clustered(3000, 16, 5)
    bias = np.random.default_rng(2).normal(size=3001).astype(np.float32) * 0.1
    retriever = build_retriever("ivf", table, bias, threads=1, nlist=32, nprobe=5, codes=codes, rerank=4,
                                n_recall_queries=20)
    queries = np.random.default_rng(4).normal(size=(12, 16)).astype(np.float32)
    padded = retriever._queries(queries)
    cells, _ = retriever._cells(padded)
    _, faiss_cells = retriever.index.quantizer.search(padded, 5)
    assert [set(row) for row in cells.tolist()] == [set(row) for row in faiss_cells.tolist()]
    labels, _ = retriever._candidates(queries, 40, [()] * len(queries), None)
    _, faiss_labels = retriever.index.search(padded, 40)
    np.testing.assert_array_equal(labels, faiss_labels + 1)


def test_re_ranking_from_a_memory_map_returns_exact_search(tmp_path):
    """The candidates are gathered from the table as `OnlineRecommender` serves it (a
    read-only memory map) and re-scored by one product per request: with every cell probed
    and a re-rank as deep as the catalogue, exact search's items, scores and order."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    values = clustered(500, 16, 6)
    np.save(tmp_path / "table.npy", values)
    table = np.load(tmp_path / "table.npy", mmap_mode="r")
    retriever = build_retriever("ivf", table, threads=1, nlist=8, nprobe=8, codes="pq4-dim", rerank=50,
                                n_recall_queries=20)
    queries = np.random.default_rng(7).normal(size=(10, 16)).astype(np.float32)
    exclude = [{i + 1, 2 * i + 5} for i in range(10)]
    want_i, want_s = ExactRetriever(values).search(queries, 10, exclude=exclude)
    got_i, got_s = retriever.search(queries, 10, exclude=exclude)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s, atol=1e-5, rtol=0)
