"""The generator's oracle on a prepared split: the upper bound any model can reach.

`hiertcn synth` saves, next to the log, the rank of every click under the generator's true
next-click distribution (given the latent state no model can see). Joining those ranks to a
prepared split's scored targets on (user id, item id, timestamp) gives the oracle's metrics
on exactly the events the models are scored on.
"""

from __future__ import annotations

import pandas as pd

from hiertcn_keras.data import splits
from hiertcn_keras.data.synthetic_io import load_generator
from hiertcn_keras.data.synthetic_oracle import oracle_metrics


def oracle_for_split(log_path, dataset, split="test", ks=(1, 5, 10, 20)):
    """Oracle metrics on the scored targets of a split of a dataset prepared from a synthetic log.

    Args:
        log_path: str or Path. The CSV written by `hiertcn synth` (either generator; its
            sidecars next to it).
        dataset: `PreparedDataset` prepared from that log.
        split: str. Defaults to `"test"`.
        ks: tuple of ints. Recall cut-offs.

    Returns:
        dict with `recall@K`, `mrr`, `n_events` (and `n_unmatched`, targets not found in the
        oracle, which should be 0).
    """
    from hiertcn_keras.data import drift_synthetic_io

    if drift_synthetic_io.is_drift_log(log_path):
        oracle = drift_synthetic_io.load_drift_oracle(log_path)
    else:
        oracle = load_generator(log_path).oracle
    ev = dataset.events
    mask = (ev["split"] == splits.split_code(split)) & (ev["item"] <= dataset.n_catalogue)
    targets = pd.DataFrame({
        "user_id": dataset.users["id"].to_numpy()[ev["user"][mask] - 1],
        "item_id": dataset.items["id"].to_numpy()[ev["item"][mask] - 1],
        "timestamp": ev["timestamp"][mask],
    })
    keys = oracle[["user_id", "item_id", "timestamp"]].astype({"user_id": str, "item_id": str, "timestamp": float})
    keys["oracle_rank"] = oracle["oracle_rank"].to_numpy()
    keys["oracle_prob"] = oracle["oracle_prob"].to_numpy()
    keys = keys.drop_duplicates(["user_id", "item_id", "timestamp"])
    joined = targets.merge(keys, on=["user_id", "item_id", "timestamp"], how="left")
    found = joined["oracle_rank"].notna().to_numpy()
    result = oracle_metrics(joined[found], ks=ks)
    result["n_unmatched"] = int((~found).sum())
    return result
