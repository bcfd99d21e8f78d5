# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make train   installs into .venv if needed, then runs the whole pipeline on the embedded default
#                (HierTCN trained to early stopping; every model tuned on validation with TRIALS trials,
#                the first of which is its default setting; see docs/tuning.md)
#   make test    installs into .venv if needed, then runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_DIR ?= runs/default
USERS ?= 2000
ITEMS ?= 1000
SEED ?= 7
EPOCHS ?= 50
TRIALS ?= 1
PYTEST_ARGS ?=
# The test suite runs in TEST_WORKERS pytest-xdist processes, each test module whole in one of
# them (its module fixtures are built once), in collection order (tests/conftest.py puts the
# longest modules first); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
PYTEST_XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)

.PHONY: install train test test-all bench notebooks clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.cfg setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
# Earlier versions installed tensorflow-cpu, which shares its module folder with tensorflow:
# remove both so that the install below lays tensorflow down whole.
	if $(BIN)/python -m pip show -q tensorflow-cpu 2>/dev/null; then \
		$(BIN)/python -m pip uninstall --quiet -y tensorflow-cpu tensorflow; fi
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

train: install
	$(BIN)/hiertcn synth --out $(RUN_DIR)/log.csv --users $(USERS) --items $(ITEMS) --seed $(SEED)
	$(BIN)/hiertcn prepare --input $(RUN_DIR)/log.csv --format generic --out $(RUN_DIR)/prepared
	$(BIN)/hiertcn stats $(RUN_DIR)/prepared
	$(BIN)/hiertcn compare --data $(RUN_DIR)/prepared --models hiertcn successor sknn mv pop --epochs $(EPOCHS) \
		--quiet --tune --trials $(TRIALS) --oracle-log $(RUN_DIR)/log.csv --out $(RUN_DIR)/compare

test: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_XDIST) $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/bench_prepare.py
	$(BIN)/python benchmarks/bench_batcher.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_graph.py
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_evaluation.py
	$(BIN)/python benchmarks/bench_item_quality.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_http_load.py
	$(BIN)/python benchmarks/bench_distribute.py
	$(BIN)/python benchmarks/bench_spark_prepare.py

# Execute every notebook in place (default: their full parameters; NOTEBOOK_PARAMS adds papermill
# options, e.g. the "medium" setting of the committed outputs, see notebooks/README.md);
# 01 trains what 04 reuses, and 02 times training, so it runs last.
NOTEBOOK_PARAMS ?=
notebooks: install
	cd notebooks && for nb in 01_hiertcn_vs_others 03_objective_functions 04_case_study 05_item_embeddings \
		06_fresh_items 02_training_time_and_memory; do \
		../$(BIN)/papermill -k python3 --cwd . --log-level WARNING $(NOTEBOOK_PARAMS) $$nb.ipynb $$nb.ipynb \
		|| exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis *.egg-info
