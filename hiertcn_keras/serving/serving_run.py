"""`ServingRun`: what online serving reads from a run directory and its prepared dataset.

A run directory (`hiertcn train`) holds the model and records the prepared dataset it was
trained on (`config.json` → `data.path`, `data.fingerprint`). Serving needs three things from
that dataset, all small: the item vocabulary (`items.parquet`: item id ↔ model index, the
catalogue first), and the `prepare` settings that define a session (the idle gap, L, repeat
collapsing, duplicates, the minimum session length). Only those files are read, never the
events. The dataset is found at the recorded path, or at `data_dir` when it moved; its
fingerprint must match the run's, so a vocabulary of other data is never used.

The run's *fingerprint* (sha256 of `model.keras` and `config.json`, 16 hex characters) keys
every stored user state, so a state computed by another model is never mixed in.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.run_dir import run_fingerprint
from hiertcn_keras.artifacts.session_rules import SessionRules


@dataclasses.dataclass
class ServingRun:
    """A trained run opened for serving.

    Attributes:
        run_dir: Path.
        recommender: the loaded `Recommender`.
        record: dict, the run's `config.json`.
        fingerprint: str. 16 hex characters identifying this model (keys the user store).
        item_ids: object array `[n_items]`: the item id (str) of every model index; `[0]` is
            `None` (padding).
        n_catalogue: int. Indices `1..n_catalogue` are rankable.
        rules: `SessionRules`.
        data_dir: Path of the prepared dataset the vocabulary came from.
    """

    run_dir: Path
    recommender: object
    record: dict
    fingerprint: str
    item_ids: np.ndarray
    n_catalogue: int
    rules: SessionRules
    data_dir: Path

    @classmethod
    def open(cls, run_dir, *, data_dir=None, session_gap=None):
        """Load a run directory and its vocabulary.

        Args:
            run_dir: str or Path. Written by `hiertcn train`.
            data_dir: str, Path or `None`. The prepared dataset; `None` uses the path the run
                recorded.
            session_gap: float or `None`. Override the dataset's idle gap (seconds).

        Returns:
            `ServingRun`.
        """
        from hiertcn_keras.data import vocabulary
        from hiertcn_keras.training.trainer import load_run

        run_dir = Path(run_dir)
        recommender, record = load_run(run_dir)
        data_dir = Path(data_dir if data_dir is not None else record["data"]["path"])
        config_path = data_dir / "config.json"
        if not config_path.is_file():
            raise DataError(
                "the run's prepared dataset (its item vocabulary and session settings) is not here; "
                "pass its folder with --data", path=data_dir,
            )
        data_config = json.loads(config_path.read_text())
        expected = record["data"]["fingerprint"]
        if data_config.get("fingerprint") != expected:
            raise DataError(f"fingerprint {data_config.get('fingerprint')!r} does not match the run's "
                            f"{expected!r}: this is not the data {run_dir} was trained on", path=config_path)
        items = vocabulary.read_vocabulary(data_dir / "items.parquet")
        model_config = recommender.model_config
        if len(items) + 1 != model_config.n_items:
            raise DataError(f"{len(items)} items + padding != the model's n_items {model_config.n_items}",
                            path=data_dir / "items.parquet")
        item_ids = np.empty(len(items) + 1, dtype=object)
        item_ids[1:] = items["id"].astype(str).to_numpy(dtype=object)
        rules = SessionRules.from_prepare_config(data_config["prepare"], session_gap)
        if rules.max_session_len < model_config.max_session_len:
            raise DataError(f"max_session_len {rules.max_session_len} < the model's "
                            f"{model_config.max_session_len}", path=config_path)
        # The model holds L = min(prepare's setting, the data's longest session) steps: a session
        # growing past L online is truncated there, as the model could not hold it offline either.
        rules = dataclasses.replace(rules, max_session_len=int(model_config.max_session_len))
        return cls(run_dir, recommender, record, run_fingerprint(run_dir), item_ids,
                   int(model_config.n_catalogue), rules, data_dir)

