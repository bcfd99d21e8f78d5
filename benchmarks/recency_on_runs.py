"""What the recency prior adds to runs that were trained without it (no retraining).

For each `PREPARED:RUN` pair: the run is loaded, the prior's window and weight are chosen on
the validation split (`training.recency_choice.choose_recency`), and the test split is scored
without and with the chosen prior. One JSON line per run: the choice, validation and test
Recall@10 / MRR with and without it, the number of scored test targets and the seconds taken.

Usage:

    python benchmarks/recency_on_runs.py runs/globo/prepared:runs/globo/hiertcn [...]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.evaluate import evaluate_recommender
    from hiertcn_keras.training.recency_choice import choose_recency
    from hiertcn_keras.training.trainer import load_run

    pairs = sys.argv[1:] if argv is None else argv
    if not pairs or any(":" not in p for p in pairs):
        raise SystemExit(__doc__)
    for pair in pairs:
        data, run = pair.split(":", 1)
        started = time.perf_counter()
        dataset = PreparedDataset(data)
        model, _ = load_run(run)
        model.model_config = model.model_config.replace(recency_prior=True, recency_hours=None, recency_beta=None)
        choice = choose_recency(model, dataset)
        plain = evaluate_recommender(model, dataset, "test")
        model.model_config = model.model_config.replace(recency_hours=choice["hours"], recency_beta=choice["beta"])
        fused = evaluate_recommender(model, dataset, "test")
        print(json.dumps({
            "run": run, "hours": choice["hours"], "beta": choice["beta"], "valid_plain": choice["plain"],
            "valid_prior": choice["value"], "test_plain": [plain["recall@10"], plain["mrr"]],
            "test_prior": [fused["recall@10"], fused["mrr"]], "n": fused["n_events"],
            "seconds": round(time.perf_counter() - started),
        }), flush=True)


if __name__ == "__main__":
    main()
