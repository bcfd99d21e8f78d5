"""Executes every notebook of `notebooks/` with tiny parameters, so that none of them rots.

All six notebooks run, in order, in **one** Jupyter kernel (nbclient): before each one the
kernel's namespace is cleared (`%reset -f`), then the notebook's code cells run with its
`parameters` cell followed by the tiny parameters, as papermill would inject them. Each
notebook therefore starts from an empty namespace, but TensorFlow is imported once, not six
times. They share one temporary WORK folder, as in a real run (notebook 4 reuses the models
notebook 1 saved).

Data: 40 synthetic users over 60 items (notebook 6: 60 users of the drift generator over 6
days), 1 epoch, width-8 models at batch 32, no XLA, and fewer models than the full runs (the
main table with HierTCN, TCN, MV, Pop and the oracle; two losses; two models timed): every code
path of the notebooks runs, and each neural model has its own tests elsewhere. Each test
checks that no cell of its notebook failed and that the key outputs exist: `summary()`, the
learning curves, the rows of the table, the plots. Skipped when nbclient, ipykernel or
matplotlib is not installed (`pip install -e ".[notebooks]"`). `make notebooks` runs them at
their full parameters.
"""

import importlib.util
import re
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

TINY_MODEL = {"embedding_dim": 8, "high_units": [8], "tcn_channels": [8], "low_gru_units": [8], "hrnn_units": 8,
              "flat_tcn_channels": [8, 8], "flat_gru_units": [8], "batch_size": 32, "sessions_per_batch": 2,
              "flat_len": 16, "gru_chunk_len": 8}
TINY_ITEMS = {"dim": 8, "n_walks": 5, "n_negatives": 20, "batch_size": 128}
COMMON = {"USERS": 40, "ITEMS": 60, "SEED": 7}
PARAMETERS = {
    "01_hiertcn_vs_others.ipynb": {**COMMON, "EPOCHS": 1, "JIT": False, "MODEL_OVERRIDES": TINY_MODEL,
                                   "MODELS": ["hiertcn", "tcn", "mv", "pop"]},
    "02_training_time_and_memory.ipynb": {**COMMON, "EPOCHS": 1, "STEPS": 2, "WARMUP": 1, "EVAL_REPEATS": 1,
                                          "JIT": False, "MODEL_OVERRIDES": TINY_MODEL, "MODELS": ["hiertcn", "tcn"],
                                          "BASELINES": ["pop"]},
    "03_objective_functions.ipynb": {**COMMON, "EPOCHS": 1, "JIT": False, "MODEL_OVERRIDES": TINY_MODEL,
                                     "ITEM_EPOCHS": 1, "ITEM_OVERRIDES": TINY_ITEMS, "LOSSES": ["hinge", "l2"]},
    "04_case_study.ipynb": {**COMMON, "EPOCHS": 1, "JIT": False, "MODEL_OVERRIDES": TINY_MODEL, "K": 3,
                            "SHOW_SESSIONS": 3},
    "05_item_embeddings.ipynb": {**COMMON, "ITEM_EPOCHS": 1, "ITEM_OVERRIDES": TINY_ITEMS, "MAP_ITEMS": 40,
                                 "QUERIES": 2},
    "06_fresh_items.ipynb": {"USERS": 60, "ITEMS": 80, "SEED": 11, "SPAN_DAYS": 6, "EPOCHS": 1, "ITEM_EPOCHS": 1,
                             "JIT": False, "MODEL_OVERRIDES": TINY_MODEL, "ITEM_OVERRIDES": TINY_ITEMS},
}


def _merged(work):
    """One notebook holding every notebook's code cells, each block after `%reset -f`.

    Returns:
        `(notebook, {name: (first cell, end)})`.
    """
    merged = nbformat.v4.new_notebook()
    merged.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    spans = {}
    for name, params in PARAMETERS.items():
        start = len(merged.cells)
        merged.cells.append(nbformat.v4.new_code_cell("%reset -f"))
        for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells:
            # Papermill's cell of the committed run's parameters is replaced by ours.
            if cell.cell_type != "code" or "injected-parameters" in cell.metadata.get("tags", []):
                continue
            merged.cells.append(nbformat.v4.new_code_cell(cell.source))
            if "parameters" in cell.metadata.get("tags", []):
                injected = {**params, "WORK": str(work)}
                merged.cells.append(nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in injected.items())))
        spans[name] = (start, len(merged.cells))
    return merged, spans


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Runs the notebooks once, in order, in one kernel; `{name: [executed code cells]}`."""
    merged, spans = _merged(tmp_path_factory.mktemp("notebooks") / "work")
    client = nbclient.NotebookClient(merged, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return {name: merged.cells[start:end] for name, (start, end) in spans.items()}


def _outputs(cells):
    """Every output's text (streams, text/plain) and the number of PNG images; fails on an error."""
    text, pngs = [], 0
    for cell in cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                pytest.fail(f"{out.get('ename')}: {out.get('evalue')}\nin cell:\n{cell.source[:1500]}")
            if out["output_type"] == "stream":
                text.append(out["text"])
            data = out.get("data", {})
            pngs += "image/png" in data
            if "text/plain" in data:
                text.append(data["text/plain"])
    return "\n".join(text), pngs


def _tutorial_parts(text, pngs, n_plots):
    """`summary()`, a learning curve and the notebook's plots are there."""
    assert "Total params" in text and "Trainable params" in text
    assert "learning curves:" in text
    assert pngs >= n_plots


def test_every_notebook_has_a_parameters_cell_and_a_conclusion():
    for name in PARAMETERS:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        tags = [tag for cell in nb.cells for tag in cell.metadata.get("tags", [])]
        assert tags.count("parameters") == 1 and tags.count("conclusion") == 1, name
        assert "sys.path" not in "".join(cell.source for cell in nb.cells), f"{name} changes sys.path"
        assert "benchmarks" not in "".join(c.source for c in nb.cells if c.cell_type == "code"), name
    assert sorted(PARAMETERS) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_committed_notebooks_are_what_the_generator_writes():
    """The executed copies' cells are `build_notebooks.py`'s, papermill's parameters cell aside."""
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name, cells in build.NOTEBOOKS.items():
        committed = [cell.source for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells
                     if "injected-parameters" not in cell.metadata.get("tags", [])]
        assert committed == [cell.source for cell in build.build(name, cells).cells], name


def test_hiertcn_vs_others(executed):
    text, pngs = _outputs(executed["01_hiertcn_vs_others.ipynb"])
    _tutorial_parts(text, pngs, 3)  # HierTCN's curve, every model's curves, the bar plot
    assert "HierTCN 1 epochs, TCN 1 epochs" in text  # the learning curves of every neural model
    for model in ("HierTCN", "TCN", "MV", "Pop", "oracle"):  # a row of the full table each
        assert re.search(rf"^{model}\s+0\.\d+", text, re.M), model
    assert "paper (Pinterest)" in text and "paper (XING)" in text
    assert "one seed (0), no tuning" in text
    # The measured suite, read from docs/results/accuracy_suite.json: a verdict line per dataset.
    assert re.search(r"^drift \([\d,]+ users, [\d,]+ events\): HierTCN (wins|ties|loses); recall@10: ", text, re.M)


def test_training_time_and_memory(executed):
    text, pngs = _outputs(executed["02_training_time_and_memory.ipynb"])
    _tutorial_parts(text, pngs, 2)
    assert "training events/s" in text
    assert "learned: × HierTCN" in text and "paper: × HierTCN" in text
    assert "hierarchical [32, 10, 20]" in text and "events/s" in text


def test_objective_functions(executed):
    text, pngs = _outputs(executed["03_objective_functions.ipynb"])
    _tutorial_parts(text, pngs, 2)
    assert "Hinge 1 epochs, L2 1 epochs" in text  # a learning curve per loss
    assert "paper (Pinterest)" in text
    assert "trained item store" in text


def test_case_study_reuses_notebook_1(executed):
    text, pngs = _outputs(executed["04_case_study.ipynb"])
    _tutorial_parts(text, pngs, 2)
    assert "reused hiertcn" in text and "reused tcn" in text
    assert "next click" in text and "median rank" in text


def test_item_embeddings(executed):
    text, pngs = _outputs(executed["05_item_embeddings.ipynb"])
    _tutorial_parts(text, pngs, 2)
    assert "GraphSAGE item model 1 epochs" in text
    assert "topic purity@10" in text and "co-occurrence (PPMI + SVD)" in text


def test_fresh_items(executed):
    text, pngs = _outputs(executed["06_fresh_items.ipynb"])
    _tutorial_parts(text, pngs, 2)
    for row in ("(a) HierTCN, learned items", "(b) HierTCN, items re-embedded per day", "(b0) HierTCN",
                "(c) recent popularity", "(c) session-kNN"):
        assert row in text, row
    assert "overall" in text and "coverage" in text
    assert "re-embedding one day's catalogue" in text
