"""`OnlineModel` reproduces the batch model's numbers from its two online steps.

An untrained model (random weights are as good as trained ones for this) with state decay on,
one user with three sessions in one `[1, 3, 4]` batch; online: embed the first session from
the zero state, fold it with the gap, embed the next, and so on. Every step's embedding must
equal the batch model's to 1e-5. HierTCN is also covered end to end, through a trained run, in
`test_online_recommender.py`; this test adds HierGRU.
"""

import numpy as np
import pytest

from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.serving.online_model import OnlineModel

SESSIONS = [[1, 2], [3], [2, 4, 1, 5]]
GAPS = [0.0, 5000.0, 100.0]  # seconds from the previous session's last event


def batch(L=4):
    items = np.zeros((1, 3, L), np.int32)
    for s, session in enumerate(SESSIONS):
        items[0, s, : len(session)] = session
    inputs = np.zeros_like(items)
    inputs[..., 1:] = items[..., :-1]
    mask = items > 0
    inputs[~mask] = 0
    return {"items": items, "inputs": inputs, "mask": mask, "session_mask": mask[..., 0],
            "user_start": np.array([[True, False, False]]), "gap": np.array([GAPS], np.float32)}


@pytest.mark.parametrize("model", ["hiergru"])
def test_online_steps_equal_the_batch_model(model):
    config = ModelConfig(model=model, n_items=7, n_catalogue=6, embedding_dim=6, high_units=(5, 3),
                         low_gru_units=(4,), batch_size=1, sessions_per_batch=3, max_session_len=4,
                         decay_bandwidth=3600.0)
    recommender = build_recommender(config)
    offline = np.asarray(recommender.predict_on_batch(batch()))[0]  # [3, 4, E]
    online = OnlineModel(recommender)
    context = np.zeros((1, online.state_size), np.float32)
    for s, session in enumerate(SESSIONS):
        if s:
            context = online.fold(context, [SESSIONS[s - 1]], [GAPS[s]])
        u = online.embed(context, [session])[0]
        np.testing.assert_allclose(u[: len(session)], offline[s, : len(session)], atol=1e-5, rtol=0)
