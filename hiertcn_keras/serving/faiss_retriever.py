"""Approximate top-K by inner product with faiss (IVF or HNSW), for large catalogues.

Shape legend: N candidates, E embedding size, Q queries.

faiss (a well-kept library for approximate nearest neighbours) searches by inner product. A biased
score `u · w + b` (the learned item space's output layer) is an inner product in E + 1
dimensions: items `[w, b]`, queries `[u, 1]`, so the same index serves both item spaces.

- `ivf`: an inverted file (`IndexIVFFlat`; `IndexIVFPQFastScan` with 4-bit codes;
  `IndexIVFScalarQuantizer` with 8-bit codes): `nlist` cells found by spherical k-means,
  `nprobe` of them scanned per query, `rerank · k` candidates re-scored exactly. The
  parameters follow from N (`ivf_plan`, the documented rule):

  * `nlist = 4·√N` (the square-root rule; at most N / 39 so each cell trains on ≥ 39 points),
    trained on `train_per_cell` sampled rows per cell (default 39, faiss's floor: the k-means
    cost grows with it and the recall barely does).
  * The coarse quantizer (which chooses the cells a query scans) is a flat scan of the
    centroids below 8,192 cells and an HNSW graph over them from 8,192 cells
    (`IndexIVFFlat(IndexHNSWFlat(d, 32), d, nlist)`, `efSearch = max(64, 2·nprobe)`); the
    k-means itself, and the assignment of every item to its cell, use a flat scan; the graph is
    built once over the centroids and used for the queries. At 4,000 cells the flat scan was
    both cheaper and exact (the graph missed cells).
  * Codes: full float32 vectors below 200,000 items; from 200,000 items 4-bit product
    quantization with one code per dimension (`pq4-dim`), scanned by faiss's SIMD fast scan
    (about ten times cheaper per item than 8-bit codes in a flat scan). `sq8` (8-bit scalar
    codes) and `pq4` (4-bit codes per pair of dimensions: too lossy for user vectors) remain
    as options.
  * `rerank`: the index returns `rerank · k` candidates (plus the excluded items) and they are
    re-scored exactly by inner product, so the scores returned and their order are always
    exact; only which items are candidates is approximate. 1 for float32, 4 for 8-bit codes;
    for 4-bit codes calibrated with nprobe (below), else 16 (`pq4-dim`) or 64 (`pq4`).
  * `nprobe`: given, or calibrated (`recall_target`, e.g. 0.99) on half of the recall
    queries, with the recall reported on the other, held-out half: the smallest nprobe whose
    recall@10 against exact search clears the target by a confidence margin (the mean
    per-query recall less 2.33 standard errors, so that the held-out recall does not land
    below the target as the mean alone did); with 4-bit codes that nprobe for every re-rank
    depth of `RERANK_CALIBRATED`, and of those pairs the one whose search costs the least CPU
    on the calibration queries (`calibrate`). With neither, `max(16, nlist / 8)`.
- `hnsw`: `IndexHNSWFlat` with `m` links per node (default 32) and `ef_search` (default 256),
  over the L2 reduction of inner-product search (Bachrach et al., RecSys 2014): items
  `[x, √(M² − |x|²)]` (M the largest item norm), queries `[u, 0]`, so that
  `|q − x|² = |u|² + M² − 2 u·x` ranks exactly as `u·x` (HNSW's graph assumes a metric; with
  unit-norm items the extra coordinate is 0 and this is plain L2).

Measured (`benchmarks/bench_serving.py`, untrained HierTCN, clustered unit item vectors,
queries = the model's user embeddings): at 100k items IVF reached recall@10 0.998 and HNSW
only 0.73 (0.99 at 20k); prefer IVF unless a measurement on your data says otherwise. Both
numbers are printed when an index is built. At 1M items these user vectors need about 3% of
the 4,000 cells for recall@10 0.99; the figures behind the rule, and its cost per query
against the previous one (8-bit codes, HNSW quantizer), are in docs/serving.md
(`benchmarks/bench_retrieval.py`).

Excluded items are filtered after the over-fetched search (`rerank · k` plus `|exclude|`). With the served
recency prior the candidates found are united with the hot items (those clicked in the window)
and the union is re-scored exactly (see `search`). At build time the
index's recall@10 against exact search is measured on `recall_queries` and kept in `report`;
`OnlineRecommender` passes the model's own user embeddings of random short sessions (the
distribution it will be queried with); without queries, 1,000 catalogue vectors drawn with a
fixed seed stand in (item-to-item queries, which overstate recall for user queries).
"""

from __future__ import annotations

import math
import time

import numpy as np

from hiertcn_keras.serving.retrieval import ExactRetriever, check_boost, check_queries, exclusion, sort_top


def recall_per_query(approx, exact, k=10):
    """|approx top-k ∩ exact top-k| / k per query (index arrays `[Q, ≥k]`): float64 `[Q]`."""
    approx, exact = np.asarray(approx)[:, :k], np.asarray(exact)[:, :k]
    if approx.shape[1] < k:  # fewer found than asked: pad with ids that match nothing
        approx = np.concatenate([approx, np.full((len(approx), k - approx.shape[1]), -1, approx.dtype)], axis=1)
    return (approx[:, :, None] == exact[:, None, :]).any(axis=2).sum(axis=1) / k


def recall_at_k(approx, exact, k=10):
    """Mean over queries of |approx top-k ∩ exact top-k| / k (index arrays `[Q, ≥k]`)."""
    return float(recall_per_query(approx, exact, k).mean()) if len(approx) else float("nan")


# The calibration's margin, in standard errors of the mean recall: the held-out recall is itself an
# estimate with (about) the same standard error, so for it to clear the target with 95%
# probability the calibration's mean must clear it by 1.645·√2 ≈ 2.33 of them (at 1M items
# 1.645 left the held-out recall at 0.9896 in one of two runs of the same index).
CONFIDENCE_Z = 2.33


def lower_bound(recalls, z=CONFIDENCE_Z):
    """The mean of per-query recalls less `z` standard errors (the sample's; the mean itself for one query)."""
    recalls = np.asarray(recalls, np.float64)
    if len(recalls) < 2:
        return float(recalls.mean()) if len(recalls) else float("nan")
    return float(recalls.mean() - z * recalls.std(ddof=1) / math.sqrt(len(recalls)))


HNSW_QUANTIZER_FROM_CELLS = 8192
# The calibration keeps the shallowest re-rank whose timed cost is within this factor of the
# cheapest pair's: it times `search` calls back to back, which flatters a deep re-rank. At 1M items
# the 8·k pair cost about 1 ms less per request of 10 events than 16·k in every serving run
# (p50 8.1 against 9.1–9.2 ms), although the calibration timed it up to 15% dearer (docs/serving.md).
SHALLOW_RERANK_TOLERANCE = 1.25
PQ4_FROM_ITEMS = 200_000
EXCLUDE_BROADCAST_UP_TO = 64  # exclusions per query compared pairwise with the candidates; more: np.isin
CODES = ("flat", "sq8", "pq4-dim", "pq4")
DIMS_PER_PQ_CODE = {"pq4-dim": 1, "pq4": 2}  # 4-bit fast-scan PQ: dimensions per 4-bit code
# Candidates re-scored exactly per item asked for, by codes (the default when not calibrated), and the
# depths a recall target chooses among (4-bit codes; measured at 1M items: docs/serving.md).
RERANK = {"flat": 1, "sq8": 4, "pq4-dim": 16, "pq4": 64}
RERANK_CALIBRATED = {"pq4-dim": (4, 8, 16, 32), "pq4": (16, 32, 64, 128)}


def ivf_plan(n, nlist=None, quantizer="auto", codes="auto"):
    """The IVF parameters for `n` items, by the rule in the module docstring.

    Args:
        n: int. Items indexed.
        nlist: int or `None` (`4·√n`, at most `n / 39`, at least 1).
        quantizer: `auto`, `flat` or `hnsw` (`auto`: `hnsw` from 8,192 cells).
        codes: `auto`, `flat`, `sq8`, `pq4-dim` or `pq4` (`auto`: `pq4-dim` from 200,000 items).

    Returns:
        dict with `nlist`, `quantizer`, `codes`.
    """
    if quantizer not in ("auto", "flat", "hnsw"):
        raise ValueError(f"quantizer must be 'auto', 'flat' or 'hnsw', got {quantizer!r}")
    if codes != "auto" and codes not in CODES:
        raise ValueError(f"codes must be 'auto' or one of {', '.join(map(repr, CODES))}, got {codes!r}")
    nlist = int(nlist or max(1, min(n // 39, round(4 * math.sqrt(n)))))
    if nlist < 1:
        raise ValueError(f"nlist must be ≥ 1, got {nlist}")
    if quantizer == "auto":
        quantizer = "hnsw" if nlist >= HNSW_QUANTIZER_FROM_CELLS else "flat"
    if codes == "auto":
        codes = "pq4-dim" if n >= PQ4_FROM_ITEMS else "flat"
    return {"nlist": nlist, "quantizer": quantizer, "codes": codes}


class FaissRetriever:
    """faiss inner-product index over candidate rows `1..N`.

    Args:
        table: float array `[N + 1, E]` (row 0 unused).
        bias: float array `[N + 1]` or `None`.
        kind: str. `ivf` or `hnsw`.
        nlist: int for `ivf` (default: `ivf_plan`).
        nprobe: int for `ivf`, or `None` (calibrated to `recall_target` when given, else
            `max(16, nlist / 8)`).
        recall_target: float in (0, 1] or `None`. `ivf`: choose the smallest nprobe (and,
            for 4-bit codes, the cheapest re-rank depth) whose recall@10 against exact search
            clears it by a confidence margin on half of the recall queries (the other half
            reports the recall; see `calibrate`). Not together with `nprobe`.
        quantizer: `auto`, `flat` or `hnsw`. `ivf`: how a query's cells are chosen (see
            `ivf_plan`).
        codes: `auto`, `flat`, `sq8`, `pq4-dim` or `pq4`. `ivf`: how vectors are stored (see
            `ivf_plan`; `pq4-dim` and `pq4`: product quantization with a 4-bit code per
            dimension or per pair of dimensions, scanned with SIMD lookup tables,
            `IndexIVFPQFastScan`).
        rerank: int or `None`. `ivf`: candidates fetched from the index per item asked for
            and re-scored exactly (`rerank · k`; faiss's `k_factor`). Default: 1 for float
            codes, 4 for `sq8`, and for 4-bit codes 16 (`pq4-dim`) or 64 (`pq4`), or calibrated
            with nprobe when `recall_target` is given (`calibrate`).
        train_per_cell: int. `ivf`: catalogue rows drawn per cell to train the coarse
            quantizer (k-means). Defaults to 39, faiss's floor (256 is its ceiling). The
            k-means cost grows with it: 553 s for 1M rows × 128 d at 256 on one core.
        m, ef_search: ints for `hnsw` (defaults above).
        recall_queries: float array `[Q, E]` or `None`: queries for the build-time recall@10
            (and the nprobe calibration).
        n_recall_queries: int. Catalogue vectors drawn when `recall_queries` is `None`.
            Defaults to 1000.
        seed: int. Training sample and recall-query draws. Defaults to 0.
        threads: int or `None`. faiss OpenMP threads (`None` leaves faiss's default; 1 for
            one worker per core).
        chunk_rows: int. Rows added per batch (bounds the float32 copy). Defaults to 262144.
    """

    def __init__(self, table, bias=None, *, kind="hnsw", nlist=None, nprobe=None, recall_target=None,
                 quantizer="auto", codes="auto", rerank=None, train_per_cell=39, m=32, ef_search=256,
                 recall_queries=None, n_recall_queries=1000, seed=0, threads=None, chunk_rows=262144):
        try:
            import faiss
        except ImportError as error:
            raise ImportError("faiss retrieval needs faiss: pip install faiss-cpu") from error
        if kind not in ("ivf", "hnsw"):
            raise ValueError(f"kind must be 'ivf' or 'hnsw', got {kind!r}")
        if not 39 <= int(train_per_cell) <= 256:
            raise ValueError(f"train_per_cell must be in [39, 256] (faiss's range), got {train_per_cell}")
        if recall_target is not None:
            if kind != "ivf":
                raise ValueError("recall_target calibrates an IVF index's nprobe; give kind='ivf'")
            if nprobe is not None:
                raise ValueError("give nprobe or recall_target, not both")
            if not 0.0 < float(recall_target) <= 1.0:
                raise ValueError(f"recall_target must be in (0, 1], got {recall_target}")
        if nprobe is not None and int(nprobe) < 1:
            raise ValueError(f"nprobe must be ≥ 1, got {nprobe}")
        if rerank is not None and (kind != "ivf" or int(rerank) < 1):
            raise ValueError(f"rerank must be an int ≥ 1 and applies to kind='ivf', got {rerank!r} for {kind!r}")
        if threads is not None:
            faiss.omp_set_num_threads(int(threads))
        self.kind = kind
        self.table = table
        self._table = np.asarray(table)  # a memory map's plain array view: `take` without its subclass' overhead
        self.n = int(table.shape[0]) - 1
        self.dim = int(table.shape[1])
        self.bias = None if bias is None else np.asarray(bias, dtype=np.float32)
        width = self.dim + (self.bias is not None)
        self._max_norm = None
        self._coarse = None
        self._clustering_index = None
        self._pad = 0
        self.rerank = 1
        depths = None
        started, cpu_started = time.perf_counter(), time.process_time()
        if kind == "ivf":
            plan = ivf_plan(self.n, nlist, quantizer, codes)
            nlist = plan["nlist"]
            per_code = DIMS_PER_PQ_CODE.get(plan["codes"], 1)
            self._pad = -width % per_code  # zero columns: whole dimensions per 4-bit sub-quantizer
            width += self._pad
            if plan["quantizer"] == "hnsw":
                coarse = faiss.IndexHNSWFlat(width, 32, faiss.METRIC_INNER_PRODUCT)
            else:
                coarse = faiss.IndexFlatIP(width)
            self.rerank = int(rerank) if rerank is not None else RERANK[plan["codes"]]
            if recall_target is not None and rerank is None:
                depths = RERANK_CALIBRATED.get(plan["codes"])
            if plan["codes"] in DIMS_PER_PQ_CODE:
                index = faiss.IndexIVFPQFastScan(coarse, width, nlist, width // per_code, 4,
                                                 faiss.METRIC_INNER_PRODUCT)
            elif plan["codes"] == "sq8":
                index = faiss.IndexIVFScalarQuantizer(coarse, width, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                      faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFFlat(coarse, width, nlist, faiss.METRIC_INNER_PRODUCT)
            if plan["quantizer"] == "hnsw":
                # k-means assigns with a flat scan; the graph is built once, over its centroids.
                self._clustering_index = faiss.IndexFlatIP(width)
                index.clustering_index = self._clustering_index
            self._coarse = coarse
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(self.n, size=min(self.n, int(train_per_cell) * nlist), replace=False)) + 1
            index.train(self._rows(table, sample))
            params = {**plan, "train_rows": int(len(sample))}
        else:
            self._max_norm = max(float(np.linalg.norm(self._rows(table, np.arange(start, min(self.n + 1, start + chunk_rows))),
                                                      axis=1).max()) for start in range(1, self.n + 1, chunk_rows))
            index = faiss.IndexHNSWFlat(width + 1, int(m), faiss.METRIC_L2)
            index.hnsw.efSearch = int(ef_search)
            params = {"m": int(m), "ef_search": int(ef_search), "metric": "L2 reduction of inner product"}
        if self._clustering_index is not None:
            # Items are assigned to their cells by the flat scan of the centroids (exact, and one
            # matrix product per chunk), not through the graph; queries then go through the graph.
            index.quantizer = self._clustering_index
        for start in range(1, self.n + 1, chunk_rows):
            index.add(self._rows(table, np.arange(start, min(self.n + 1, start + chunk_rows))))
        if self._clustering_index is not None:
            index.quantizer = self._coarse
        self.index = index
        # A flat quantizer's centroids, for choosing a request's cells with one NumPy product
        # (`_cells`) rather than faiss's own scan of them, which cost more with 10 queries per
        # call; the same cells and candidates (tested).
        self._centroids = np.ascontiguousarray(self._coarse.reconstruct_n(0, nlist).T, np.float32) \
            if kind == "ivf" and self._clustering_index is None else None  # [d, nlist]: a plain product
        if kind == "ivf":
            self.set_nprobe(nprobe or max(16, nlist // 8))
        build_seconds, build_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started

        if recall_queries is None:
            rng = np.random.default_rng(seed + 1)
            picks = np.sort(rng.choice(self.n, size=min(self.n, n_recall_queries), replace=False)) + 1
            recall_queries = np.asarray(table[picks], dtype=np.float32)
            query_source = "catalogue vectors"
        else:
            query_source = "given queries"
        self.report = {"kind": kind, "n_items": self.n, **params, "build_seconds": round(build_seconds, 3),
                       "build_cpu_seconds": round(build_cpu_seconds, 3),
                       "index_bytes": self.index_bytes()}
        recall_queries = check_queries(recall_queries, self.dim)
        exact, _ = ExactRetriever(table, self.bias).search(recall_queries, 10)
        if recall_target is not None:
            started, cpu_started = time.perf_counter(), time.process_time()
            calibration = self.calibrate(recall_queries[0::2], exact[0::2], float(recall_target), depths=depths)
            recall_queries, exact = recall_queries[1::2], exact[1::2]
            self.report.update(calibration, calibration_seconds=round(time.perf_counter() - started, 3),
                               calibration_cpu_seconds=round(time.process_time() - cpu_started, 3))
            query_source = "given queries, held out from the calibration" if query_source == "given queries" \
                else "catalogue vectors, held out from the calibration"
        if kind == "ivf":
            self.report.update(nprobe=int(self.index.nprobe), rerank=self.rerank)
        self.report.update(self.measure_recall(table, recall_queries, exact=exact), recall_query_source=query_source)

    @property
    def nprobe(self):
        """Cells scanned per query (`ivf`)."""
        return int(self.index.nprobe)

    def set_nprobe(self, nprobe):
        """Scan `nprobe` cells per query (at most nlist); an HNSW quantizer searches `max(64, 2·nprobe)` wide."""
        self.index.nprobe = max(1, min(int(nprobe), int(self.index.nlist)))
        if self._coarse is not None and hasattr(self._coarse, "hnsw"):
            self._coarse.hnsw.efSearch = max(64, 2 * int(self.index.nprobe))
        if hasattr(self, "report") and self.kind == "ivf":
            self.report["nprobe"] = int(self.index.nprobe)

    def index_bytes(self):
        """The index's own arrays in bytes: codes and ids of every item, centroids, graph links (an estimate)."""
        if self.kind == "ivf":
            total = self.n * (int(self.index.code_size) + 8) + int(self.index.nlist) * int(self.index.d) * 4
            if hasattr(self._coarse, "hnsw"):
                total += int(self.index.nlist) * 2 * 32 * 4  # about 2·M links per node at the bottom level
            return int(total)
        return int(self.n * (int(self.index.d) + int(self.index.hnsw.nb_neighbors(0))) * 4)

    def set_rerank(self, rerank):
        """Re-score `rerank · k` candidates exactly per query (`ivf`); 1 keeps only the index's own top-k."""
        if int(rerank) < 1:
            raise ValueError(f"rerank must be ≥ 1, got {rerank}")
        self.rerank = int(rerank)
        if hasattr(self, "report") and self.kind == "ivf":
            self.report["rerank"] = self.rerank

    def calibrate(self, queries, exact, target, k=10, depths=None, *, margin=CONFIDENCE_Z, cost_batch=10):
        """Set the cheapest (nprobe, re-rank depth) whose recall@k on `queries` clears `target` with a margin.

        The recall of a pair is estimated on `queries`, so the smallest pair that reaches the
        target on them over-fits them: on other queries its recall lands below the target as
        often as not. A pair is therefore accepted only when the *lower confidence bound* of its
        recall clears the target: the mean per-query recall less `margin` standard errors
        (2.33 by default: the held-out half's own estimate then clears the target with 95%
        probability). More queries make the bound tighter and the pair cheaper.

        Per depth of `depths` (deepest first) the fewest cells that clear the target: doubling
        from 1 (from the previous depth's nprobe for shallower ones, which need at least as
        many; up to twice the deepest depth's nprobe, past which a shallower re-rank no longer
        pays), then bisection. Each nprobe costs one index search of `max(depths) · k`
        candidates; the recall of every shallower depth is read off the prefix of the same
        (approximately ordered) candidates. Of the pairs found, the shallowest whose `search`
        costs at most `SHALLOW_RERANK_TOLERANCE` (1.25) times the least CPU per query on these
        queries (in requests of `cost_batch`, the best of two passes) is kept: a shallower
        re-rank needs more cells, and which costs less depends on the codes and the catalogue.

        Args:
            queries: float32 `[Q, E]`.
            exact: int `[Q, ≥k]`: their exact top-k.
            target: float.
            k: int. Defaults to 10.
            depths: ints or `None` (the current `rerank` only): candidates re-scored per item.
            margin: float ≥ 0. Standard errors of the mean recall the target must be cleared by
                (`CONFIDENCE_Z`, 2.33, by default; 0: the mean itself).
            cost_batch: int. Queries per timed `search` call when several pairs are compared.

        Returns:
            dict: `recall_target`, `calibration_recall@k` (the mean at the pair chosen),
            `calibration_recall_lower_bound@k` (its lower confidence bound),
            `recall_target_reached` (false only if even every cell at the deepest re-rank falls
            short: ties at the k-th score, lossy codes, or too few queries for the margin),
            `recall_margin_z`, `n_calibration_queries`, `nprobe_tried` (`{nprobe: recall}` at
            the deepest re-rank), and with several depths `rerank_tried` (`{depth: recall}` at
            the nprobe chosen) and `pairs_costed` (`{depth: {nprobe, recall, cpu_ms_per_query}}`
            for every depth that clears the target).
        """
        depths = sorted({int(d) for d in (depths or (self.rerank,))})
        queries = check_queries(queries, self.dim)
        margin = float(margin)
        if not margin >= 0:
            raise ValueError(f"margin must be ≥ 0, got {margin}")

        def per_query(nprobe):
            if nprobe not in tried:
                self.set_nprobe(nprobe)
                labels, scores = self._candidates(queries, max(depths) * k, [()] * len(queries), None)
                tried[nprobe] = {depth: recall_per_query(self._best(labels[:, :depth * k], scores[:, :depth * k],
                                                                    k)[0], exact, k) for depth in depths}
            return tried[nprobe]

        def clears(nprobe, depth):
            return lower_bound(per_query(nprobe)[depth], margin) >= target

        tried, nlist, deepest = {}, int(self.index.nlist), max(depths)
        found, floor, most = {}, 1, nlist  # depth → the fewest cells that clear the target at it
        for depth in sorted(depths, reverse=True):
            high = floor
            while high < most and not clears(high, depth):
                high = min(most, 2 * high)
            if not clears(high, depth):
                break  # too many cells at this depth, and at every shallower one
            # Known not to clear: the last doubling's failure, or one cell fewer than a deeper depth needed.
            low = high // 2 if high > floor else floor - 1
            while high - low > 1:
                middle = (low + high) // 2
                if clears(middle, depth):
                    high = middle
                else:
                    low = middle
            found[depth] = floor = high
            # A shallower re-rank is searched only up to twice the deepest one's cells: the scan
            # grows with the cells and beyond that costs more than the deeper re-rank saves (at
            # 1M items 8·k needed 79 cells where 16·k and 32·k needed 59, docs/serving.md).
            most = min(nlist, 2 * found[deepest])
        costs = {}
        if len(found) > 1:
            for depth, nprobe in found.items():
                self.set_nprobe(nprobe)
                self.set_rerank(depth)
                costs[depth] = min(self._cpu_per_query(queries, k, cost_batch) for _ in range(2))
        if found:
            cheapest = min(costs.values(), default=0.0)
            depth = min(d for d in found if costs.get(d, 0.0) <= SHALLOW_RERANK_TOLERANCE * cheapest)
            nprobe = found[depth]
        else:
            depth, nprobe = deepest, nlist
        self.set_nprobe(nprobe)
        self.set_rerank(depth)
        chosen = per_query(nprobe)[depth]
        result = {"recall_target": target, f"calibration_recall@{k}": round(float(chosen.mean()), 4),
                  f"calibration_recall_lower_bound@{k}": round(lower_bound(chosen, margin), 4),
                  "recall_target_reached": depth in found, "recall_margin_z": margin,
                  "n_calibration_queries": len(queries),
                  "nprobe_tried": {str(p): round(float(r[deepest].mean()), 4) for p, r in sorted(tried.items())}}
        if len(depths) > 1:
            result["rerank_tried"] = {str(d): round(float(per_query(nprobe)[d].mean()), 4) for d in depths}
            result["pairs_costed"] = {str(d): {"nprobe": p, f"recall@{k}": round(float(per_query(p)[d].mean()), 4),
                                               "cpu_ms_per_query": round(1000 * costs[d], 4) if d in costs else None}
                                      for d, p in sorted(found.items())}
        return result

    def _cpu_per_query(self, queries, k, batch):
        """CPU seconds per query of `search` over `queries` in calls of `batch` (the calibration's cost)."""
        started = time.process_time()
        for start in range(0, len(queries), batch):
            self.search(queries[start : start + batch], k)
        return (time.process_time() - started) / max(1, len(queries))

    def _rows(self, table, indices):
        rows = np.asarray(table[indices], dtype=np.float32)
        if self.bias is not None:
            rows = np.concatenate([rows, self.bias[indices, None]], axis=1)
        if self._max_norm is not None:
            slack = np.maximum(self._max_norm ** 2 - np.sum(rows.astype(np.float64) ** 2, axis=1), 0.0)
            rows = np.concatenate([rows, np.sqrt(slack).astype(np.float32)[:, None]], axis=1)
        if self._pad:
            rows = np.concatenate([rows, np.zeros((len(rows), self._pad), np.float32)], axis=1)
        return np.ascontiguousarray(rows)

    def _queries(self, queries):
        if self.bias is not None:
            queries = np.concatenate([queries, np.ones((len(queries), 1), np.float32)], axis=1)
        if self._max_norm is not None:
            queries = np.concatenate([queries, np.zeros((len(queries), 1), np.float32)], axis=1)
        if self._pad:
            queries = np.concatenate([queries, np.zeros((len(queries), self._pad), np.float32)], axis=1)
        return np.ascontiguousarray(queries)

    def measure_recall(self, table, queries, k=10, exact=None):
        """recall@k of this index against `ExactRetriever` on `queries` `[Q, E]` (`exact`: their top-k if known)."""
        queries = check_queries(queries, self.dim)
        if exact is None:
            exact, _ = ExactRetriever(table, self.bias).search(queries, k)
        approx, _ = self.search(queries, k)
        return {f"recall@{k}": round(recall_at_k(approx, exact, k), 4), "n_recall_queries": len(queries)}

    def search(self, queries, k, *, exclude=None, boost=None):
        """Approximate top-k, same contract as `ExactRetriever.search`.

        With a `boost` (`(indices, values)`, the served recency prior's hot items), the
        index's candidates by `u · v (+ b)` are united with the boosted items and the union is
        scored exactly (`u · v + boost + b`): a boosted item is never missed because the index
        did not return it; an unboosted one is found as well as without a boost.
        """
        queries = check_queries(queries, self.dim)
        if k < 1:
            raise ValueError(f"k must be ≥ 1, got {k}")
        k = min(int(k), self.n)
        excluded = exclusion(exclude, len(queries))
        boost = check_boost(boost, self.n)
        labels, scores = self._candidates(queries, self.rerank * k, excluded, boost)
        return self._best(labels, scores, k)

    def _candidates(self, queries, depth, excluded, boost):
        """The index's `depth` candidates (plus the excluded and boosted items) with exact scores.

        Returns:
            `(labels, scores)`: int64 and float32 `[Q, M]`, candidates in the index's order
            (excluded items and faiss's padding scored `-inf`), then the boosted ones.
        """
        fetch = min(self.n, depth + max((len(e) for e in excluded), default=0))
        padded = self._queries(queries)
        if self._centroids is not None:
            cells, inner = self._cells(padded)
            _, labels = self.index.search_preassigned(padded, fetch, cells, inner)
        else:
            _, labels = self.index.search(padded, fetch)
        labels = labels.astype(np.int64) + 1  # faiss ids are 0-based over rows 1..N
        # Exact scores of the candidates found: the same numbers as exact search, every row of
        # the request gathered at once and scored by one product.
        safe = np.maximum(labels, 1)
        rows = self._table.take(safe.ravel(), axis=0).reshape(*safe.shape, -1)
        scores = np.einsum("qmd,qd->qm", rows.astype(np.float32, copy=False), queries)
        if self.bias is not None:
            scores += self.bias[safe]
        scores[labels <= 0] = -np.inf  # faiss pads with -1 (label 0 here) when it finds fewer
        if boost is not None:
            hot, values = boost
            order = np.argsort(hot, kind="stable")
            hot, values = hot[order], values[order]
            where = np.minimum(np.searchsorted(hot, labels), len(hot) - 1)
            scores[hot[where] == labels] = -np.inf  # scored below, with the boost, once
            hot_scores = queries @ np.asarray(self.table[hot], np.float32).T
            hot_scores += values
            if self.bias is not None:
                hot_scores += self.bias[hot]
            labels = np.concatenate([labels, np.broadcast_to(hot, (len(queries), len(hot)))], axis=1)
            scores = np.concatenate([scores, hot_scores], axis=1)
        widest = max((len(items) for items in excluded), default=0)
        if 0 < widest <= EXCLUDE_BROADCAST_UP_TO:  # a session's items: one comparison of every pair
            padded = np.zeros((len(excluded), widest), np.int64)  # 0 matches only faiss padding (already -inf)
            for row, items in enumerate(excluded):
                padded[row, : len(items)] = items
            scores[(labels[:, :, None] == padded[:, None, :]).any(axis=2)] = -np.inf
        elif widest:
            for row, items in enumerate(excluded):
                if items:
                    scores[row, np.isin(labels[row], np.asarray(items, np.int64))] = -np.inf
        return labels, scores

    def _cells(self, padded):
        """The `nprobe` cells of each query `[Q, d]` by inner product with the centroids.

        Returns:
            `(cells, inner)`: int64 and float32 `[Q, nprobe]`, in no particular order.
        """
        inner = padded @ self._centroids
        nprobe, nlist = int(self.index.nprobe), inner.shape[1]
        if nprobe >= nlist:
            cells = np.broadcast_to(np.arange(nlist, dtype=np.int64), inner.shape)
        else:
            cells = np.argpartition(inner, nlist - nprobe, axis=1)[:, nlist - nprobe :]
        return cells, np.take_along_axis(inner, cells, 1)

    @staticmethod
    def _best(labels, scores, k):
        """The top `k` of candidate rows by exact score (exact search's tie rule), dropping `-inf` columns."""
        if labels.shape[1] > 4 * k:  # many candidates: sort only those at or above each row's k-th score
            kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
            keep = np.argsort(scores < kth, axis=1, kind="stable")[:, : max(k, int((scores >= kth).sum(1).max()))]
            labels, scores = np.take_along_axis(labels, keep, 1), np.take_along_axis(scores, keep, 1)
        labels, scores = sort_top(scores, labels, k)
        keep = np.isfinite(scores)
        if not keep.all():
            width = int(keep.sum(axis=1).min())
            labels, scores = labels[:, :width], scores[:, :width]
        return labels, scores.astype(np.float32)
