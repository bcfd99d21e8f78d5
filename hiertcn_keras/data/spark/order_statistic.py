"""Exact order statistics of a Spark column (the temporal split's quantile cuts).

`np.quantile(t, q, method="lower")` is the k-th smallest time with `k = floor((n - 1) q)`
(`splits.lower_quantile_ranks`). Spark's `approxQuantile` is approximate, and an exact
`percentile` keeps every distinct value in memory, so we find the k-th value by narrowing:
one pass counts the values in 65,536 equal-width bins, then the few values of the bin that
holds rank k are counted exactly (or, if that bin still holds too many distinct values, the
same is done again inside it). Two or three passes, whatever the number of events, and only
histograms reach the driver.
"""

from __future__ import annotations

BINS = 1 << 16
MAX_DISTINCT = 50_000


def kth_smallest(df, column, ks, *, bins=BINS, max_distinct=MAX_DISTINCT, bounds=None):
    """The k-th smallest values of a numeric column, exactly.

    Args:
        df: Spark DataFrame.
        column: str. A numeric column without nulls.
        ks: sequence of int. 0-based ranks, each in `[0, count)`.
        bins: int. Histogram bins per narrowing pass. Defaults to 65,536.
        max_distinct: int. A bin with at most this many values is resolved by counting its
            distinct values on the driver. Defaults to 50,000.

    Returns:
        list of float, one per rank in `ks`.
    """
    from pyspark.sql import functions as F

    out = {}
    col = F.col(column)

    def solve(sub, wanted, known=None):  # wanted: list of (key, rank within sub)
        lo, hi, n = known or sub.agg(F.min(col), F.max(col), F.count(col)).first()
        for key, k in wanted:
            if not 0 <= k < n:
                raise ValueError(f"rank {k} outside [0, {n}) for column {column!r}")
        if lo == hi or n <= max_distinct:
            _pick(_value_counts(sub, column), wanted, out)
            return
        width = (hi - lo) / bins
        bin_of = F.least((F.floor((col - F.lit(lo)) / F.lit(width))).cast("long"), F.lit(bins - 1))
        hist = sub.groupBy(bin_of.alias("b")).count().toPandas()  # Arrow: fast for 65k rows
        counts = dict(zip(hist["b"].tolist(), hist["count"].tolist()))
        below, by_bin = 0, {}
        ranks = sorted(wanted, key=lambda w: w[1])
        j = 0
        for b in sorted(counts):
            c = counts[b]
            while j < len(ranks) and ranks[j][1] < below + c:
                by_bin.setdefault(b, []).append((ranks[j][0], ranks[j][1] - below))
                j += 1
            below += c
        for b, local in by_bin.items():
            part = sub.filter(bin_of == b)
            if counts[b] <= max_distinct:
                _pick(_value_counts(part, column), local, out)
            else:
                solve(part, local)

    solve(df.select(column), list(enumerate(ks)), bounds)
    return [out[i] for i in range(len(ks))]


def _value_counts(sub, column):
    """Sorted (value, count) pairs of a column, through Arrow."""
    from pyspark.sql import functions as F

    table = sub.groupBy(F.col(column).alias("v")).count().toPandas().sort_values("v")
    return zip(table["v"].tolist(), table["count"].tolist())


def _pick(value_counts, wanted, out):
    """Resolve ranks from sorted (value, count) rows."""
    below = 0
    ranks = sorted(wanted, key=lambda w: w[1])
    j = 0
    for value, count in value_counts:
        while j < len(ranks) and ranks[j][1] < below + count:
            out[ranks[j][0]] = float(value)
            j += 1
        below += count
