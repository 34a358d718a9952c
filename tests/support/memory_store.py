"""fsspec's in-memory file system (a pytest plugin, registered by
tests/conftest.py): `memory_store`, the store that TensorBoard's file layer and
tb_actviz reach as memory://, emptied before and after a test."""

import pytest


@pytest.fixture
def memory_store():
    """fsspec's in-memory file system, empty; emptied again after the test."""
    fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed")
    store = fsspec.filesystem("memory")

    def clear():
        for path in store.ls("/", detail=False):
            store.rm(path, recursive=True)

    clear()
    yield store
    clear()
