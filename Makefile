# Two commands do all set-up on a fresh machine:
#   make demo   train examples/faces.py with the callback, then serve TensorBoard
#   make test   install everything the tests need and run them all
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 6006
LOGDIR ?= logs/faces

.PHONY: setup demo test bench screenshots clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e .
	touch $@

demo: setup
	rm -rf $(LOGDIR)
	$(BIN)/python examples/faces.py --log_dir $(LOGDIR)
	@echo "Open http://127.0.0.1:$(PORT)/#activations  (Ctrl-C to stop)"
	$(BIN)/tensorboard --logdir $(LOGDIR) --host 127.0.0.1 --port $(PORT)

test: setup
	bash tools/ensure_chromium.sh
	$(BIN)/python -m pytest -q tests

# Retakes docs/screenshots/ (the README's) with the browser tests.
screenshots: setup
	bash tools/ensure_chromium.sh
	TB_ACTVIZ_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_browser.py -k screenshots

bench: setup
	$(BIN)/python benchmarks/bench_callback.py
	$(BIN)/python benchmarks/bench_plugin.py
	bash tools/ensure_chromium.sh
	$(BIN)/python benchmarks/bench_tab.py

clean:
	rm -rf $(VENV) .venv-* logs build *.egg-info
