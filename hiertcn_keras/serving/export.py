"""Export a trained HierTCN / HierGRU run as a TensorFlow SavedModel for TF Serving.

Shape legend: B users per request, S session rows, L steps per session (`max_session_len`),
E user-embedding size, N catalogue items, K items returned.

The SavedModel holds one serving signature, `serving_default`:

- inputs: `sessions` int32 `[B, S, L]` — each user's recent sessions as model item indices
  (the run's vocabulary: `item_ids.txt`, line i = index i), oldest first, each session's items
  in time order and padded with 0 at the end, sessions packed at the start and padded with
  all-0 rows at the end. The last non-empty row is the *open* session (the one the next item
  extends); every row before it is a finished session folded into the high-level state.
  `gaps` float32 `[B, S]`: seconds from the end of session s-1 to the start of session s
  (`gaps[:, 0]` is ignored); read only by a model trained with state decay.
- outputs: `embedding` float32 `[B, E]` (the user embedding that ranks the next item),
  `item_ids` int32 `[B, K]` (model indices, best first) and `scores` float32 `[B, K]`.

The ranking is over the full catalogue (indices 1..N); index 0 (padding) and the items of the
open session are never returned, as `hiertcn recommend` does by default. Finished sessions
shorter than the data's `min_session_len` are not folded (prepare drops them). The numbers are
those of the online path (`OnlineModel`), itself equal to the offline model.

Why not `model.export()`: the training model takes the batch tensors of a fixed batch size
and carries each row's high-level state in a variable between batches (stateful queues); its
call is not a function of one user's history. The export is built from the model's own online
steps (`HierarchicalSteps`, sharing the trained weights) with `keras.export.ExportArchive`.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from hiertcn_keras.artifacts import output_guard
from hiertcn_keras.artifacts.atomic import atomic_dir
from hiertcn_keras.models.hiertcn import HierarchicalSteps
from hiertcn_keras.serving.item_catalog import ItemCatalog
from hiertcn_keras.serving.online_model import SUPPORTED_MODELS
from hiertcn_keras.serving.serving_run import ServingRun

SIGNATURE = "serving_default"
VOCABULARY_FILE = "item_ids.txt"
INFO_FILE = "hiertcn_export.json"


def export_run(run_dir, out, *, k=10, sessions=None, data_dir=None, overwrite=False):
    """Write a SavedModel of a run's user model and full-catalogue top-K.

    Args:
        run_dir: str or Path. A HierTCN / HierGRU run written by `hiertcn train`.
        out: str or Path. The folder to create (written to a temporary folder, then renamed).
        k: int ≥ 1. Items returned per user (at most N).
        sessions: int or `None`. S, session rows per request; `None` = the run's
            `sessions_per_batch`.
        data_dir: str, Path or `None`. The run's prepared dataset if it moved.
        overwrite: bool. Replace an existing `out`. Defaults to `False` (an error).

    Returns:
        dict: what was written (`path`, `signature`, inputs and outputs with shapes, `k`, ...),
        also stored as `out/hiertcn_export.json`.
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"a SavedModel needs the TensorFlow backend; KERAS_BACKEND is "
                         f"{keras.backend.backend()!r} (run with KERAS_BACKEND=tensorflow)")
    out = Path(out)
    output_guard.check_not_input(out, [run_dir, data_dir])
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if k < 1:
        raise ValueError(f"--k must be ≥ 1, got {k}")
    run = ServingRun.open(run_dir, data_dir=data_dir)
    config = run.recommender.model_config
    if config.model not in SUPPORTED_MODELS:
        raise ValueError(f"export needs a hierarchical model, one of {SUPPORTED_MODELS}; this run is {config.model!r}")
    catalog = ItemCatalog.from_run(run)
    S = int(sessions if sessions is not None else config.sessions_per_batch)
    if S < 1:
        raise ValueError(f"--sessions must be ≥ 1, got {S}")
    k = min(int(k), catalog.n_catalogue)
    archive = build_archive(run, catalog, k, S)
    info = {
        "run": str(Path(run_dir).resolve()),
        "run_fingerprint": run.fingerprint,
        "model": config.model,
        "signature": SIGNATURE,
        "inputs": {"sessions": ["int32", [None, S, int(config.max_session_len)]], "gaps": ["float32", [None, S]]},
        "outputs": {"embedding": ["float32", [None, archive_output_dim(run)]], "item_ids": ["int32", [None, k]],
                    "scores": ["float32", [None, k]]},
        "k": k,
        "n_catalogue": catalog.n_catalogue,
        "min_session_len": int(run.rules.min_session_len),
        "decay_bandwidth": config.decay_bandwidth,
        "vocabulary": VOCABULARY_FILE,
    }
    with atomic_dir(out, overwrite=overwrite) as tmp:  # written aside, then renamed
        archive.write_out(str(tmp), verbose=False)
        lines = [""] + [str(i) for i in catalog.item_ids[1:]]
        (tmp / VOCABULARY_FILE).write_text("\n".join(lines) + "\n")
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return {**info, "path": str(out)}


def archive_output_dim(run):
    return int(HierarchicalSteps(run.recommender.user_model, run.recommender.model_config.model).output_dim)


def build_archive(run, catalog, k, S):
    """The `keras.export.ExportArchive` with the `serving_default` endpoint (see the module doc).

    Args:
        run: `ServingRun`.
        catalog: `ItemCatalog` (the ranking table `[N + 1, E]` and optional bias).
        k: int. Items returned.
        S: int. Session rows per request.

    Returns:
        `ExportArchive`, not yet written.
    """
    import tensorflow as tf  # a SavedModel is TensorFlow's format

    config = run.recommender.model_config
    L = int(config.max_session_len)
    steps = HierarchicalSteps(run.recommender.user_model, config.model)
    H = steps.state_size
    low = _low_model(steps, L, H)
    fold = _fold_model(steps, L, H)
    min_len = int(run.rules.min_session_len)
    bandwidth = config.decay_bandwidth
    table = keras.Variable(np.asarray(catalog.table, np.float32), trainable=False, name="catalogue_vectors")
    bias_values = np.zeros(catalog.n_catalogue + 1, np.float32) if catalog.bias is None else catalog.bias
    bias = keras.Variable(np.asarray(bias_values, np.float32), trainable=False, name="catalogue_bias")

    archive = keras.export.ExportArchive()
    archive.track(low)
    archive.track(fold)
    archive.add_variable_collection("catalogue", [table, bias])

    def serve(sessions, gaps):
        sessions = tf.cast(sessions, tf.int32)
        lengths = tf.reduce_sum(tf.cast(sessions > 0, tf.int32), axis=2)  # [B, S]
        nonempty = lengths > 0
        position = tf.range(S)[None, :]
        last = tf.reduce_max(tf.where(nonempty, position, -1), axis=1)  # [B]; -1: no history
        B = tf.shape(sessions)[0]
        context = tf.zeros([B, H], tf.float32)
        for s in range(S):
            done = nonempty[:, s] & (s < last) & (lengths[:, s] >= min_len)
            if bandwidth is not None and s + 1 < S:
                decay = tf.exp(-tf.maximum(gaps[:, s + 1], 0.0) / float(bandwidth))[:, None]
            else:
                decay = tf.ones([B, 1], tf.float32)
            folded = fold([sessions[:, s], context, decay])
            context = tf.where(done[:, None], folded, context)
        open_row = tf.gather(sessions, tf.maximum(last, 0), axis=1, batch_dims=1)  # [B, L]
        open_row = tf.where((last >= 0)[:, None], open_row, tf.zeros_like(open_row))
        inputs = tf.concat([tf.zeros([B, 1], tf.int32), open_row], axis=1)
        u = low([inputs, context])  # [B, L + 1, E]
        m = tf.reduce_sum(tf.cast(open_row > 0, tf.int32), axis=1)
        embedding = tf.gather(u, m, axis=1, batch_dims=1)  # [B, E]
        scores = tf.matmul(embedding, table, transpose_b=True) + bias[None, :]  # [B, N + 1]
        n = catalog.n_catalogue + 1
        seen = tf.reduce_any(tf.one_hot(open_row, n, on_value=True, off_value=False, dtype=tf.bool), axis=1)
        never = seen | (tf.range(n) == 0)[None, :]
        scores = tf.where(never, tf.constant(-np.inf, tf.float32), scores)
        top_scores, top_ids = tf.math.top_k(scores, k=k)
        return {"embedding": embedding, "item_ids": tf.cast(top_ids, tf.int32), "scores": top_scores}

    archive.add_endpoint(
        SIGNATURE, serve,
        input_signature=[tf.TensorSpec([None, S, L], tf.int32, name="sessions"),
                         tf.TensorSpec([None, S], tf.float32, name="gaps")],
    )
    return archive


def _low_model(steps, L, H):
    inputs = keras.Input((L + 1,), dtype="int32", name="inputs")
    context = keras.Input((H,), dtype="float32", name="context")
    return keras.Model([inputs, context], steps.low_level(inputs, context), name="export_low_level")


def _fold_model(steps, L, H):
    items = keras.Input((L,), dtype="int32", name="items")
    context = keras.Input((H,), dtype="float32", name="context")
    decay = keras.Input((1,), dtype="float32", name="decay")
    return keras.Model([items, context, decay], steps.fold(context, items, decay), name="export_fold")
