"""Choose a top-K retriever by name: `exact` (brute force) or a faiss index (`ivf`, `hnsw`)."""

from __future__ import annotations

from hiertcn_keras.serving.retrieval import ExactRetriever

RETRIEVERS = ("exact", "ivf", "hnsw")


def build_retriever(kind, table, bias=None, **options):
    """A retriever by name: `exact`, `ivf` or `hnsw` (the last two need faiss).

    Args:
        kind: str.
        table, bias: as for `ExactRetriever`.
        **options: passed to the retriever (`chunk_rows`; faiss: `nlist`, `nprobe`, `m`,
            `ef_search`, `recall_queries`, `seed`, `threads`).

    Returns:
        `ExactRetriever` or `faiss_retriever.FaissRetriever`.
    """
    if kind == "exact":
        return ExactRetriever(table, bias, **options)
    if kind in ("ivf", "hnsw"):
        from hiertcn_keras.serving.faiss_retriever import FaissRetriever

        return FaissRetriever(table, bias, kind=kind, **options)
    raise ValueError(f"retrieval must be 'exact', 'ivf' or 'hnsw', got {kind!r}")
