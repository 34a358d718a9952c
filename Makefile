# Two commands do all set-up on a fresh machine:
#   make demo   train examples/faces.py with the callback, then serve TensorBoard
#               (PORT=6006 and LOGDIR=logs/faces by default: make demo PORT=6007)
#   make test   install everything the tests need and run them all
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 6006
LOGDIR ?= logs/faces

# The tests that run on every Keras backend: what they test runs on the
# backend (the forward pass, the fit, the log pipeline). The TensorFlow venv
# runs every test under tests/; the browser, server and export tests, and the
# unit tests of what does not touch the backend (format/, read/, write/,
# metadata), read or write files alike on every backend and run there only.
BACKEND_TESTS := tests/integration/test_callback.py tests/integration/test_models.py \
	tests/integration/test_model_kinds.py tests/integration/test_faults.py \
	tests/integration/test_format.py tests/integration/test_scalar_logger.py \
	tests/integration/test_distributed_backends.py
BACKEND_TESTS += tests/unit/capture/test_extractor.py tests/unit/capture/test_layer_calls.py \
	tests/unit/capture/test_token_grid.py tests/unit/capture/test_kernels.py \
	tests/unit/capture/test_layer_selection.py tests/unit/capture/test_probe.py \
	tests/unit/capture/test_attribution.py tests/unit/capture/test_probe_display.py

.PHONY: setup setup-backends setup-others demo test test-tensorflow test-jax test-torch \
	test-backends-agree test-protobuf bench screenshots clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e .
	touch $@

# One venv per other backend, without TensorFlow: .venv-jax, .venv-torch.
# keras-hub (tests/integration/test_model_kinds.py) goes in without its requirements:
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

# The other venvs are installed while the TensorFlow tests run (pip mostly
# unpacks files, the tests mostly compute): two jobs, as many as the 2 cores
# CI has. The installs run one after the other (each `pip install -e .`
# rebuilds the package's metadata in the work tree).
test: setup
	$(MAKE) -j2 test-tensorflow setup-others
	$(MAKE) test-jax test-torch test-backends-agree test-protobuf

setup-others:
	$(MAKE) .venv-jax/.installed
	$(MAKE) .venv-torch/.installed
	bash tools/test_protobuf_range.sh --setup

test-tensorflow: setup
	bash tools/ensure_chromium.sh
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest -q tests --ignore=tests/integration/test_backends_agree.py

# s3:// log dirs, served by a real TensorBoard: only where TensorFlow is not
# installed (TensorBoard then reads with its own file layer, which has s3://).
# The event files read back by that file layer too (in .venv: by TensorFlow's).
EXTRA_TESTS_jax := tests/integration/test_remote_logdir.py tests/unit/write/test_event_file_writer.py
# The PyTorch-native loggers (tb_actviz.torch, .lightning, .transformers).
EXTRA_TESTS_torch := tests/integration/test_torch_logger.py tests/integration/test_torch_frameworks.py \
	tests/unit/capture/test_torch_maps.py

test-jax test-torch: test-%: .venv-%/.installed
	KERAS_BACKEND=$* .venv-$*/bin/python -m pytest -q $(BACKEND_TESTS) $(EXTRA_TESTS_$*)

# The examples on all three backends give log dirs the tab shows alike.
test-backends-agree: setup setup-backends
	bash tools/ensure_chromium.sh
	TB_ACTVIZ_BACKEND_PYTHONS="jax=.venv-jax/bin/python torch=.venv-torch/bin/python" \
		$(BIN)/python -m pytest -q tests/integration/test_backends_agree.py

# The plugin and the TensorFlow-free tests on the oldest and newest protobuf.
test-protobuf:
	bash tools/test_protobuf_range.sh

# Retakes docs/screenshots/ (the README's) with the browser tests.
screenshots: setup
	bash tools/ensure_chromium.sh
	TB_ACTVIZ_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/browser/test_browser.py -k screenshots

bench: setup .venv-torch/.installed
	$(BIN)/python benchmarks/bench_callback.py
	.venv-torch/bin/python benchmarks/bench_torch.py
	$(BIN)/python benchmarks/bench_plugin.py
	bash tools/ensure_chromium.sh
	$(BIN)/python benchmarks/bench_tab.py

clean:
	rm -rf $(VENV) .venv-* logs build *.egg-info
