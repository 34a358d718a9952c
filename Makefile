# Two commands do all set-up on a fresh machine:
#   make demo   train examples/faces.py with the callback, then serve TensorBoard
#   make test   install everything the tests need and run them all
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 6006
LOGDIR ?= logs/faces

.PHONY: setup demo test bench screenshots proto clean

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

# Regenerates tb_actviz/plugin_data_pb2.py with protoc 31.1 (protobuf 6.31.1),
# the oldest runtime TensorBoard 2.21 accepts, so the module runs on 6.31.1-7.x.
proto:
	$(PYTHON) -m venv /tmp/tb_actviz_protoc
	/tmp/tb_actviz_protoc/bin/pip install -q grpcio-tools==1.74.0 protobuf==6.31.1
	/tmp/tb_actviz_protoc/bin/python -m grpc_tools.protoc -I. --python_out=. tb_actviz/plugin_data.proto

clean:
	rm -rf $(VENV) logs build *.egg-info
