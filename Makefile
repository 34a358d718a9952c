# Two commands do all set-up on a fresh machine:
#   make demo   train examples/faces.py with the callback, then serve TensorBoard
#               (PORT=6006 and LOGDIR=logs/faces by default: make demo PORT=6007)
#   make test   install everything the tests need and run them all
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 6006
LOGDIR ?= logs/faces

# The tests that run on every Keras backend (the browser, server and export
# tests read log dirs and run once, in the TensorFlow venv).
BACKEND_TESTS := tests/test_callback.py tests/test_models.py tests/test_faults.py \
	tests/test_format.py tests/test_extractor.py tests/test_kernels.py \
	tests/test_layer_selection.py tests/test_event_file_writer.py \
	tests/test_metadata.py tests/test_distributed_backends.py \
	tests/test_attribution.py tests/test_model_kinds.py
BACKEND_TESTS += tests/test_probe_display.py
BACKEND_TESTS += tests/test_scalar_logger.py

.PHONY: setup setup-backends demo test test-tensorflow test-jax test-torch \
	test-backends-agree test-protobuf bench screenshots clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e .
	touch $@

# One venv per other backend, without TensorFlow: .venv-jax, .venv-torch.
# keras-hub (tests/test_model_kinds.py) goes in without its requirements:
# it requires tensorflow-text, which requires TensorFlow; requirements-%.txt
# lists the others.
setup-backends: .venv-jax/.installed .venv-torch/.installed

.venv-%/.installed: setup.py requirements-%.txt
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/pip install -q --upgrade pip
	.venv-$*/bin/pip install -q -r requirements-$*.txt -e .
	.venv-$*/bin/pip install -q --no-deps keras-hub==0.32.0
	! .venv-$*/bin/python -c "import tensorflow" 2>/dev/null  # proves the claim
	touch $@

# The demo's own venv: the package, TensorFlow's CPU build and the example's
# data, nothing of the tests'. TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's
# start-up notes (warnings and errors still show).
.venv-demo/.installed: setup.py requirements-demo.txt
	test -x .venv-demo/bin/python || $(PYTHON) -m venv .venv-demo
	.venv-demo/bin/pip install -q --upgrade pip
	.venv-demo/bin/pip install -q -r requirements-demo.txt -e .
	touch $@

demo: .venv-demo/.installed
	rm -rf $(LOGDIR)
	TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow .venv-demo/bin/python examples/faces.py --log_dir $(LOGDIR)
	TF_CPP_MIN_LOG_LEVEL=2 bash tools/serve_demo.sh .venv-demo/bin/tensorboard $(LOGDIR) $(PORT)

test: test-tensorflow test-jax test-torch test-backends-agree test-protobuf

test-tensorflow: setup
	bash tools/ensure_chromium.sh
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest -q tests --ignore=tests/test_backends_agree.py

# s3:// log dirs, served by a real TensorBoard: only where TensorFlow is not
# installed (TensorBoard then reads with its own file layer, which has s3://).
EXTRA_TESTS_jax := tests/test_remote_logdir.py
# The PyTorch-native loggers (tb_actviz.torch, .lightning, .transformers).
EXTRA_TESTS_torch := tests/test_torch_logger.py tests/test_torch_frameworks.py

test-jax test-torch: test-%: .venv-%/.installed
	KERAS_BACKEND=$* .venv-$*/bin/python -m pytest -q $(BACKEND_TESTS) $(EXTRA_TESTS_$*)

# The examples on all three backends give log dirs the tab shows alike.
test-backends-agree: setup setup-backends
	bash tools/ensure_chromium.sh
	TB_ACTVIZ_BACKEND_PYTHONS="jax=.venv-jax/bin/python torch=.venv-torch/bin/python" \
		$(BIN)/python -m pytest -q tests/test_backends_agree.py

# The plugin and the TensorFlow-free tests on the oldest and newest protobuf.
test-protobuf:
	bash tools/test_protobuf_range.sh

# Retakes docs/screenshots/ (the README's) with the browser tests.
screenshots: setup
	bash tools/ensure_chromium.sh
	TB_ACTVIZ_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_browser.py -k screenshots

bench: setup .venv-torch/.installed
	$(BIN)/python benchmarks/bench_callback.py
	.venv-torch/bin/python benchmarks/bench_torch.py
	$(BIN)/python benchmarks/bench_plugin.py
	bash tools/ensure_chromium.sh
	$(BIN)/python benchmarks/bench_tab.py

clean:
	rm -rf $(VENV) .venv-* logs build *.egg-info
