"""The case study: one user's history and the top-K lists different models give them."""

from __future__ import annotations

import numpy as np


def top_k(scores, k, n_catalogue):
    scores = np.array(scores, dtype=np.float32)
    scores[:, 0] = -np.inf
    scores[:, n_catalogue + 1 :] = -np.inf
    k = min(k, n_catalogue)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return top, np.take_along_axis(scores, top, axis=1)


def user_view(view, user, events=None):
    """One user's events of a view, scoring only `events` (indices into the view) or all.

    Returns:
        `(sub_view, positions)`: the user's `EventView` and the indices in it of the scored events.
    """
    from hiertcn_keras.data.dataset import EventView

    rows = np.flatnonzero(view.user == user)
    if not len(rows):
        raise ValueError(f"user index {user} has no events in the {view.split} view")
    score = np.zeros(len(view), dtype=bool)
    score[rows if events is None else np.asarray(events)] = True
    score &= view.score if events is None else True
    sub = EventView(user=view.user[rows], item=view.item[rows], timestamp=view.timestamp[rows],
                    session=view.session[rows], position=view.position[rows], score=score[rows], split=view.split)
    return sub, np.flatnonzero(sub.score)


def top_k_recommender(model, view, user, events, k=10):
    """The top-K items a trained `Recommender` predicts for some events of one user.

    The model replays the user's visible history (their earlier events in `view`) through its
    own queue batches, as in evaluation, and scores every catalogue item for each event in
    `events` (indices into `view`, all of user `user`).

    Args:
        model: `Recommender`.
        view: `EventView`.
        user: int. The user index.
        events: int array `[N]`. Indices into `view` of events of `user` (the targets).
        k: int. Defaults to 10.

    Returns:
        `(items [N, k], scores [N, k])`: item indices (best first) and their scores.
    """
    from hiertcn_keras.training.evaluate import batcher_for

    config = model.model_config
    sub, _ = user_view(view, user, events)
    table, bias = model.item_table()
    table = np.asarray(table, dtype=np.float32)
    model.reset_states()
    vectors = []
    for batch in batcher_for(config, sub).batches():
        u = np.asarray(model.predict_on_batch(batch))
        if batch["score"].any():
            # A single user sits in one queue row, in time order: row-major order is time order.
            vectors.append(u[batch["score"]])
    scores = np.concatenate(vectors) @ table.T
    if bias is not None:
        scores = scores + np.asarray(bias, dtype=np.float32)
    return top_k(scores, k, config.n_catalogue)


def top_k_baseline(baseline, view, events, k=10):
    """The top-K items of a fitted simple baseline for some events of a view.

    Args:
        baseline: a fitted `simple_baselines` object.
        view: `EventView`.
        events: int array `[N]`. Indices into `view`.
        k: int. Defaults to 10.

    Returns:
        `(items [N, k], scores [N, k])`.
    """
    return top_k(baseline.scores(view, np.asarray(events)), k, baseline.n_catalogue)
