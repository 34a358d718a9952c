"""The root of the tests: where the helpers are, and which fixtures every
test can use.

    tests/unit/        one module of tb_actviz/ per file, in folders that
                       mirror the package (format/, read/, write/, capture/, ...)
    tests/integration/ real fits, real `tensorboard` servers, export, distributed
                       training, the PyTorch loggers, the backends against each other
    tests/browser/     the tab in a real Chromium (Playwright)
    tests/support/     helpers, fixtures and worker scripts; on sys.path
                       (pytest.ini's `pythonpath`), so tests import them by name:
                       `from log_parsing import parse_blobs`, `import hostile_logdirs`

The fixture modules below are plugins: one session-wide instance of each
fixture (one trained log root, one browser) serves every test folder. None
of them imports Keras or TensorFlow at import time: the protobuf-range venvs
(tools/test_protobuf_range.sh) have neither.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

# Helpers with asserts of their own: rewritten as pytest rewrites tests.
pytest.register_assert_rewrite("log_parsing", "hostile_logdirs")

pytest_plugins = [
    "trained_logs",         # trained_logs: real model.fit runs (session)
    "tensorboard_process",  # tensorboard_server (session), tensorboard_factory
    "browser_support",      # browser (session), tab, showcase_training (session)
    "small_filesystem",     # small_filesystem: a 2 MiB tmpfs
    "memory_store",         # memory_store: fsspec's memory://, emptied
]
