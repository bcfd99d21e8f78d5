"""Executes every notebook of `notebooks/` with tiny parameters, so that none of them rots.

The five notebooks run in order with papermill in one temporary WORK folder (as in a real run,
notebook 4 reuses notebook 1's runs and notebook 5 notebook 3's item store) on a tiny
synthetic dataset (40 users, 60 items), 1 epoch, models of width 8 and no XLA. Each test then
checks that no cell failed and that the key outputs exist (every model row of the table, the
plot). Skipped when papermill or ipykernel is not installed (`pip install -e ".[notebooks]"`).
"""

import json
from pathlib import Path

import pytest

pm = pytest.importorskip("papermill")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

TINY_MODEL = {"embedding_dim": 8, "high_units": [8], "tcn_channels": [8], "low_gru_units": [8], "hrnn_units": 8,
              "flat_tcn_channels": [8, 8], "flat_gru_units": [8], "batch_size": 4, "sessions_per_batch": 2,
              "flat_len": 16, "gru_chunk_len": 8}
TINY_ITEMS = {"dim": 8, "n_walks": 5, "n_negatives": 20, "batch_size": 128}
COMMON = {"USERS": 40, "ITEMS": 60, "SEED": 7}
PARAMETERS = {
    "01_hiertcn_vs_others.ipynb": {"EPOCHS": 1, "JIT": False, "MODEL_OVERRIDES": TINY_MODEL},
    "02_training_time_and_memory.ipynb": {"STEPS": 2, "WARMUP": 1, "EVAL_REPEATS": 1, "JIT": False,
                                          "MODEL_OVERRIDES": TINY_MODEL},
    "03_objective_functions.ipynb": {"EPOCHS": 1, "JIT": False, "MODEL_OVERRIDES": TINY_MODEL, "ITEM_EPOCHS": 1,
                                     "ITEM_OVERRIDES": TINY_ITEMS},
    "04_case_study.ipynb": {"EPOCHS": 1, "JIT": False, "MODEL_OVERRIDES": TINY_MODEL, "K": 3, "SHOW_SESSIONS": 3},
    "05_item_embeddings.ipynb": {"ITEM_EPOCHS": 1, "ITEM_OVERRIDES": TINY_ITEMS, "MAP_ITEMS": 40, "QUERIES": 2},
}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Runs the notebooks once, in order; `{name: (notebook dict or None, error or None)}`."""
    tmp = tmp_path_factory.mktemp("notebooks")
    work = tmp / "work"
    done = {}
    for name, params in PARAMETERS.items():
        out = tmp / name
        try:
            pm.execute_notebook(str(NOTEBOOKS / name), str(out), parameters={**COMMON, **params, "WORK": str(work)},
                                cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False, log_output=False)
            done[name] = (json.loads(out.read_text()), None)
        except Exception as err:  # noqa: BLE001  (reported by the test of that notebook)
            done[name] = (None, err)
    return done


def _outputs(nb):
    """Every output's text (streams, text/plain) and the MIME types, cell by cell."""
    text, mimes = [], set()
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{out.get('ename')}: {out.get('evalue')}"
            if out["output_type"] == "stream":
                text.append("".join(out["text"]))
            for mime, value in out.get("data", {}).items():
                mimes.add(mime)
                if mime == "text/plain":
                    text.append("".join(value))
    return "\n".join(text), mimes


def _ran(executed, name):
    nb, err = executed[name]
    if err is not None:
        pytest.fail(f"{name} failed: {str(err)[-2000:]}")
    return _outputs(nb)


def test_every_notebook_has_a_parameters_cell_and_a_conclusion():
    for name in PARAMETERS:
        nb = json.loads((NOTEBOOKS / name).read_text())
        tags = [tag for cell in nb["cells"] for tag in cell.get("metadata", {}).get("tags", [])]
        assert tags.count("parameters") == 1 and tags.count("conclusion") == 1, name
    assert sorted(PARAMETERS) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_hiertcn_vs_others(executed):
    text, mimes = _ran(executed, "01_hiertcn_vs_others.ipynb")
    for model in ("HierTCN", "HierGRU", "HRNN", "TCN", "GRU", "MV", "MaxItem", "Pop", "SKNN", "oracle"):
        assert model in text
    assert "paper (Pinterest)" in text and "paper (XING)" in text
    assert "image/png" in mimes


def test_training_time_and_memory(executed):
    text, mimes = _ran(executed, "02_training_time_and_memory.ipynb")
    assert "learned: × HierTCN" in text and "paper: × HierTCN" in text
    assert "hierarchical [32, 10, 20]" in text and "events/s" in text
    assert "image/png" in mimes


def test_objective_functions(executed):
    text, mimes = _ran(executed, "03_objective_functions.ipynb")
    for loss in ("L2", "NCE", "BPR", "Hinge"):
        assert loss in text
    assert "image/png" in mimes


def test_case_study_reuses_notebook_1(executed):
    text, mimes = _ran(executed, "04_case_study.ipynb")
    assert "reused hiertcn" in text and "reused tcn" in text
    assert "next click" in text and "MV" in text
    assert "image/png" in mimes


def test_item_embeddings_reuses_notebook_3(executed):
    text, mimes = _ran(executed, "05_item_embeddings.ipynb")
    assert "reused GraphSAGE store" in text
    assert "topic purity@10" in text
    assert "image/png" in mimes
