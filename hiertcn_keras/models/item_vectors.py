"""A simple default item space: PPMI-weighted co-occurrence counts, factorised by truncated SVD.

Shape legend: I items (the vocabulary, index 0 = padding), D vector dim.

MV and MaxItem (the paper's non-neural baselines, `simple_baselines.py`) score candidates by
inner products with the vectors of the user's recent items. The paper feeds them the learned
PinSage item embeddings; when no such embeddings are given (no graph model trained yet, or a
quick run), `cooccurrence_vectors` builds a cheap, deterministic stand-in from the training
log alone: the classic count → PPMI → SVD recipe (Levy, Goldberg & Dagan, "Improving
distributional similarity with lessons learned from word embeddings", TACL 2015), with a
user's items playing the role of words in a sentence.

Two events of the same user *co-occur* when they are in the same session, or at most `window`
events apart in the user's history (across session boundaries). Pairs of the same item are
dropped (the diagonal), so an item's vector describes its neighbours, not its frequency.
Worked example, one user, items `[1, 2 | 3]` (`|` = session break), `window=1`: the session
gives the pair (1, 2); the window gives (1, 2) again (already counted: a pair counts once) and
(2, 3), which crosses the break; (1, 3) is two events apart, so it is not a pair. Counts are
symmetric: C[1, 2] = C[2, 1] = 1, C[2, 3] = C[3, 2] = 1.

`load_item_vectors` reads learned vectors (e.g. the graph model's embedding store) instead.
scipy.sparse builds the counts; the PPMI matrix is symmetric, so its truncated SVD is computed
by a symmetric eigensolver (dense LAPACK for small catalogues, ARPACK with a seeded start vector
otherwise). Nothing here needs Keras.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

from hiertcn_keras.graph.cointeraction import cooccurrence_counts

# Up to this many active items the PPMI matrix is factorised densely (exact, deterministic,
# ~1 s); above it ARPACK computes only the top `dim` eigenpairs.
_DENSE_SVD_LIMIT = 2000


def ppmi(counts):
    """Positive pointwise mutual information of a co-occurrence matrix.

    `PPMI(i, j) = max(0, log(C_ij · ΣC / (ΣC_i· · ΣC_·j)))`, computed on the non-zeros only.

    Args:
        counts: sparse or dense `[I, I]` non-negative counts.

    Returns:
        `scipy.sparse.csr_matrix` float64 `[I, I]`.
    """
    coo = sp.coo_matrix(counts, dtype=np.float64)
    total = coo.sum()
    if total <= 0:
        return sp.csr_matrix(coo.shape, dtype=np.float64)
    row_sum = np.asarray(coo.sum(axis=1)).ravel()
    col_sum = np.asarray(coo.sum(axis=0)).ravel()
    pmi = np.log(coo.data * total / (row_sum[coo.row] * col_sum[coo.col]))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)


def _truncated_svd(matrix, k, seed):
    """Top-k singular triplets `(U, Σ)` of a symmetric matrix, Σ descending.

    For a symmetric matrix `M = Q Λ Qᵀ` the SVD is `U = Q`, `Σ = |Λ|` (and `V = Q sign(Λ)`),
    so the symmetric eigensolvers do the job, several times faster than a general SVD. Signs are
    fixed (as sklearn's `svd_flip` does: each U column's largest |entry| is positive) so the
    vectors do not depend on the solver.
    """
    n = matrix.shape[0]
    if n <= _DENSE_SVD_LIMIT or k >= n - 1:
        eigenvalues, eigenvectors = np.linalg.eigh(matrix.toarray())
    else:
        v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, size=n)
        eigenvalues, eigenvectors = eigsh(matrix, k=k, which="LM", v0=v0)
    order = np.argsort(-np.abs(eigenvalues), kind="stable")[:k]
    u, s = eigenvectors[:, order], np.abs(eigenvalues[order])
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    signs[signs == 0] = 1.0
    return u * signs, s


def cooccurrence_vectors(train_view, n_items, dim=64, window=5, seed=0):
    """Item vectors from the training co-occurrence matrix (PPMI + truncated SVD).

    The default item space of the MV and MaxItem baselines when no learned (graph) item
    embeddings are given; see the module docstring for what co-occurs.

    Args:
        train_view: `EventView`. The training events, sorted by (user, time).
        n_items: int. I, the vocabulary size including index 0.
        dim: int. D, the vector dimension. Defaults to 64. Where fewer items co-occur than
            `dim`, the trailing components are 0.
        window: int. See `cooccurrence_counts`. Defaults to 5.
        seed: int. Seeds ARPACK's start vector (catalogues over 2,000 co-occurring items).
            Defaults to 0.

    Returns:
        float32 `[I, D]`: rows `U_i · sqrt(Σ)` of the SVD of the PPMI matrix, L2-normalised.
        Row 0 and the rows of items without any positive PPMI entry are zeros.

    Example:

    >>> vectors = cooccurrence_vectors(data.view("train"), data.n_items)   # doctest: +SKIP
    """
    if dim < 1:
        raise ValueError(f"dim must be ≥ 1, got {dim}")
    out = np.zeros((n_items, dim), dtype=np.float32)
    weights = ppmi(cooccurrence_counts(train_view, n_items, window=window))
    weights = sp.csr_matrix(weights)
    weights.eliminate_zeros()
    active = np.flatnonzero(weights.getnnz(axis=1) > 0)
    active = active[active > 0]
    if len(active) == 0:
        return out
    sub = weights[active][:, active]
    k = min(dim, len(active))
    u, s = _truncated_svd(sub, k, seed)
    vectors = u * np.sqrt(s)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    out[active, :k] = vectors
    return out


def load_item_vectors(path, n_items, item_ids=None):
    """Reads item vectors from a `.npy` matrix or an embedding store folder.

    Args:
        path: str or Path. A `.npy` file holding `[I, D]` (row 0 = the padding item) or
            `[I - 1, D]` (items 1..I-1 only; a zero row 0 is prepended), or a store folder
            written by `hiertcn embed-items` (`serving.embedding_store`).
        n_items: int. I, the vocabulary size including index 0.
        item_ids: sequence of the dataset's item ids in index order (1..I-1), or `None`. With
            a store, rows are looked up by id, so a store written for another vocabulary order
            still lines up; an id missing from the store is an error.

    Returns:
        float32 `[I, D]`.
    """
    path = Path(path)
    if path.is_dir():
        return _load_store(path, n_items, item_ids)
    if not path.is_file():
        raise FileNotFoundError(f"item vectors file not found: {path}")
    try:
        matrix = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path}: not a readable .npy array ({err})") from None
    if matrix.ndim != 2:
        raise ValueError(
            f"{path}: item vectors must be a 2-D matrix [n_items, D] = [{n_items}, D] "
            f"(or [{n_items - 1}, D] without the padding row), got shape {matrix.shape}"
        )
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(matrix.dtype, np.complexfloating):
        raise ValueError(f"{path}: item vectors must be real numbers, got dtype {matrix.dtype}")
    if matrix.shape[0] == n_items - 1:
        matrix = np.concatenate([np.zeros((1, matrix.shape[1]), matrix.dtype), matrix])
    elif matrix.shape[0] != n_items:
        raise ValueError(
            f"{path}: item vectors have shape {matrix.shape}, expected [{n_items}, D] "
            f"(row 0 = padding) or [{n_items - 1}, D] for n_items={n_items}"
        )
    matrix = matrix.astype(np.float32)
    if not np.isfinite(matrix).all():
        bad = np.argwhere(~np.isfinite(matrix))[0]
        raise ValueError(f"{path}: item vectors hold a non-finite value at row {bad[0]}, column {bad[1]}")
    return matrix


def _load_store(path, n_items, item_ids):
    from hiertcn_keras.artifacts.embedding_store import EmbeddingStore

    with EmbeddingStore.open(path) as store:
        if item_ids is None:
            if store.n_items != n_items:
                raise ValueError(f"{path}: the store holds {store.n_items} rows, the data has {n_items} items (incl. 0)")
            matrix = store.as_array("float32")
        else:
            if len(item_ids) != n_items - 1:
                raise ValueError(f"item_ids has {len(item_ids)} ids, expected n_items - 1 = {n_items - 1}")
            rows = store.index_of([str(i) for i in item_ids])
            matrix = np.zeros((n_items, store.dim), dtype=np.float32)
            matrix[1:] = store.vectors(rows)
    matrix[0] = 0.0
    return matrix
