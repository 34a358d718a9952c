"""ActivationLogger with real `model.fit` on tiny models, and the probe argument."""

import logging
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import decode_png, logged_steps, read_run
from tb_actviz import ActivationLogger
from tb_actviz import probe as probe_lib

L = keras.layers
TAG = "actviz/layers/c"


def data(n=8, size=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, 1)).astype("float32")
    y = rng.integers(0, 2, size=(n,))
    return x, y


def tiny(with_input=True, size=6):
    layers = [keras.Input((size, size, 1))] if with_input else []
    layers += [L.Conv2D(3, 3, name="c"), L.Flatten(name="flat"), L.Dense(2, name="d")]
    model = keras.Sequential(layers)
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def fit(model, x, y, callbacks, epochs=2, batch_size=2, **kwargs):
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                     callbacks=callbacks, **kwargs)


def run_dir(log_dir):
    return os.path.join(str(log_dir), "train")


# Basics ---------------------------------------------------------------------------


def test_sequential_without_input_logs_every_epoch(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = data()
    model = tiny(with_input=False)
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)
    fit(model, x, y, [cb], epochs=3)
    values, metadatas = read_run(run_dir(tmp_path))
    assert [s for s, _, _ in values[TAG]] == [0, 1, 2, 3]
    for _, _, blobs in values[TAG]:
        assert len(blobs) == 1 + 3  # stats + one strip per filter
        assert decode_png(blobs[1]).shape == (4, 2 * 4)
    assert cb.trace_count == 1


def test_maps_change_over_training(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = data()
    model = tiny()
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    fit(model, x, y, [ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)], epochs=2)
    values, _ = read_run(run_dir(tmp_path))
    first, last = values[TAG][0][2], values[TAG][-1][2]
    assert first[0] != last[0]  # the statistics moved with the weights


def test_trace_count_is_one_after_several_epochs(tmp_path):
    x, y = data()
    cb = ActivationLogger(tmp_path, probe=x[:3], layers=["c", "d"], verbose=0)
    fit(tiny(), x, y, [cb], epochs=4)
    assert cb.trace_count == 1
    assert logged_steps(run_dir(tmp_path), "actviz/layers/d") == [0, 1, 2, 3, 4]


def test_update_freq_logs_every_n_batches(tmp_path):
    x, y = data(n=8)  # 4 batches of 2 per epoch, 8 in all
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", update_freq=3, verbose=0)
    fit(tiny(), x, y, [cb], epochs=2)
    assert logged_steps(run_dir(tmp_path), TAG) == [0, 3, 6]


def test_update_freq_steps_continue_over_a_second_fit(tmp_path):
    # The step is the number of completed training batches, as in
    # keras.callbacks.TensorBoard(update_freq=N) (optimizer iterations): a
    # second fit must not rewrite the first one's steps.
    x, y = data(n=8)
    model = tiny()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", update_freq=2, verbose=0)
    fit(model, x, y, [cb], epochs=1)
    first = read_run(run_dir(tmp_path))[0][TAG]
    fit(model, x, y, [cb], epochs=1)
    values = read_run(run_dir(tmp_path))[0][TAG]
    steps = sorted({s for s, _, _ in values})
    assert steps[-1] == 8, steps
    # What the first fit wrote at step 2 is still what step 2 holds.
    assert [v for s, _, v in values if s == 2][-1][0] == [v for s, _, v in first if s == 2][0][0]


def test_every_n_epochs(tmp_path):
    x, y = data()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", every_n_epochs=2, verbose=0)
    fit(tiny(), x, y, [cb], epochs=5)
    assert logged_steps(run_dir(tmp_path), TAG) == [0, 2, 4]


def test_second_fit_continues_with_initial_epoch(tmp_path):
    x, y = data()
    model = tiny()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)
    fit(model, x, y, [cb], epochs=2)
    fit(model, x, y, [cb], epochs=4, initial_epoch=2)
    assert sorted(set(logged_steps(run_dir(tmp_path), TAG))) == [0, 1, 2, 3, 4]
    assert cb.trace_count == 1


def test_probe_images_logged_once_with_labels(tmp_path):
    x, y = data()
    cb = ActivationLogger(tmp_path, probe=(x[:3], y[:3]), layers="c", verbose=0,
                          class_names=["no", "yes"])
    fit(tiny(), x, y, [cb], epochs=2)
    values, metadatas = read_run(run_dir(tmp_path))
    (entry,) = values["actviz/probe"]
    assert entry[0] == 0 and len(entry[2]) == 3
    assert decode_png(entry[2][0]).shape == (6, 6)
    from tb_actviz import metadata

    md = metadata.parse_plugin_metadata(metadatas["actviz/probe"].plugin_data.content)
    assert list(md.labels) == [["no", "yes"][int(v)] for v in y[:3]]


def test_verbose_reports_bytes_per_log_in_one_line(tmp_path, capsys):
    x, y = data()
    fit(tiny(), x, y, [ActivationLogger(tmp_path, probe=x[:2], layers=["c", "d"])], epochs=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if "tb_actviz" in l]
    assert len(lines) == 1, lines
    assert re.search(r"one log writes \d+(\.\d+)? (B|KB|MB|GB)", lines[0]), lines[0]
    assert "c " in lines[0] and "d " in lines[0]


def test_with_keras_tensorboard_callback_same_run(trained_logs):
    # The session run used keras.callbacks.TensorBoard(log_dir) and
    # ActivationLogger(log_dir) together.
    faces = trained_logs.faces
    values, _ = read_run(os.path.join(faces.log_dir, "train"))
    assert "epoch_loss" in values
    assert [s for s, _, _ in values["epoch_loss"]] == list(range(faces.steps[-1]))
    assert "actviz/probe" in values and "actviz/layers/conv1" in values
    assert sorted(os.listdir(faces.log_dir)) == ["train"]


def test_image_grids_option_writes_images_tab_grids(tmp_path):
    # docs/format.md, "Optional Images-tab grids": image_grids=True.
    x, y = data()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0, image_grids=True)
    fit(tiny(), x, y, [cb], epochs=1)
    values, metadatas = read_run(run_dir(tmp_path))
    assert metadatas["actviz_grid/c"].plugin_data.plugin_name == "images"
    assert [s for s, _, _ in values["actviz_grid/c"]] == [0, 1]


# Validation before any training step ---------------------------------------------------


def assert_not_trained(model, weights_before):
    assert int(model.optimizer.iterations.numpy()) == 0
    for before, after in zip(weights_before, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_unknown_layer_fails_before_training(tmp_path):
    x, y = data()
    model = tiny()
    weights = model.get_weights()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers=["c", "flatt"], verbose=0)
    with pytest.raises(ValueError) as info:
        fit(model, x, y, [cb])
    message = str(info.value)
    assert "Closest match: 'flat'" in message
    assert "(4, 4, 3)" in message and "(48,)" in message  # the listing with shapes
    assert_not_trained(model, weights)


def test_probe_with_wrong_shape_says_expected_shape(tmp_path):
    x, y = data()
    model = tiny()
    weights = model.get_weights()
    cb = ActivationLogger(tmp_path, probe=np.zeros((2, 7, 7, 1), "float32"), layers="c", verbose=0)
    with pytest.raises(ValueError, match=r"expected .*\(6, 6, 1\)"):
        fit(model, x, y, [cb])
    assert_not_trained(model, weights)


def test_probe_with_wrong_shape_sequential_without_input(tmp_path):
    x, y = data()
    model = tiny(with_input=False)
    cb = ActivationLogger(tmp_path, probe=np.zeros((2, 7, 7, 1), "float32"), layers="c", verbose=0)
    with pytest.raises(ValueError, match=r"\(6, 6, 1\)"):
        fit(model, x, y, [cb])
    # A model without an Input is built by its first batch, from the real
    # data; the probe is checked right after that one batch.
    assert int(model.optimizer.iterations.numpy()) == 1


def test_unwritable_log_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    x, y = data()
    model = tiny()
    weights = model.get_weights()
    cb = ActivationLogger(blocker / "logs", probe=x[:2], layers="c", verbose=0)
    with pytest.raises(ValueError, match="cannot write to log_dir"):
        fit(model, x, y, [cb])
    assert_not_trained(model, weights)


@pytest.mark.parametrize(
    "kwargs", [dict(every_n_epochs=0), dict(update_freq="batch"), dict(max_filters=-1),
               dict(log_dir="")]
)
def test_bad_arguments_fail_at_construction(kwargs):
    args = dict(log_dir="logs", probe=np.zeros((1, 6, 6, 1)))
    args.update(kwargs)
    with pytest.raises(ValueError):
        ActivationLogger(**args)


# Logging faults ----------------------------------------------------------------------------


class BreakWriter(keras.callbacks.Callback):
    """Makes the logger's event writer raise from `at_epoch` on (`times` writes)."""

    def __init__(self, logger, at_epoch, times):
        super().__init__()
        self.logger, self.at_epoch, self.times = logger, at_epoch, times

    def on_epoch_end(self, epoch, logs=None):
        if epoch != self.at_epoch:
            return
        writer = self.logger._file_writer
        original = writer.write
        state = {"left": self.times}

        def broken(fn):
            if state["left"] <= 0:
                return original(fn)
            state["left"] -= 1
            raise OSError("No space left on device (injected)")

        writer.write = broken


def test_logging_fault_warns_and_training_completes(tmp_path, caplog):
    x, y = data()
    model = tiny()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)
    caplog.set_level(logging.WARNING, logger="tb_actviz")
    # Runs before the logger's on_epoch_end: the write of step 2 and all later fail.
    history = fit(model, x, y, [BreakWriter(cb, at_epoch=1, times=100), cb], epochs=6)
    assert len(history.history["loss"]) == 6
    assert int(model.optimizer.iterations.numpy()) == 6 * 4
    warnings = [r.getMessage() for r in caplog.records if r.name == "tb_actviz"]
    assert warnings and any("No space left" in w for w in warnings)
    assert any("off for the rest" in w for w in warnings)  # gives up after repeated faults
    assert logged_steps(run_dir(tmp_path), TAG) == [0, 1]


def test_transient_logging_fault_loses_only_that_step(tmp_path, caplog):
    x, y = data()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)
    caplog.set_level(logging.WARNING, logger="tb_actviz")
    fit(tiny(), x, y, [BreakWriter(cb, at_epoch=1, times=1), cb], epochs=5)
    warnings = [r.getMessage() for r in caplog.records if r.name == "tb_actviz"]
    assert len(warnings) == 1 and "step 2" in warnings[0], warnings
    assert logged_steps(run_dir(tmp_path), TAG) == [0, 1, 3, 4, 5]


# make_probe ---------------------------------------------------------------------------------


def test_probe_from_array():
    x = np.arange(5 * 4 * 4).reshape(5, 4, 4, 1).astype("float32")
    p = probe_lib.make_probe(x, max_images=16)
    np.testing.assert_array_equal(p.inputs, x)
    assert p.labels == ("",) * 5 and p.size == 5


def test_probe_from_tensor_is_capped():
    x = tf.random.normal((10, 4, 4, 3))
    p = probe_lib.make_probe(x, max_images=4)
    assert p.size == 4 and p.inputs.shape == (4, 4, 4, 3)
    np.testing.assert_array_equal(p.inputs, x.numpy()[:4])


def test_probe_tuple_with_int_labels_and_class_names():
    x = np.zeros((3, 4, 4, 1))
    p = probe_lib.make_probe((x, np.array([1, 0, 1])), max_images=8, class_names=["cat", "dog"])
    assert p.labels == ("dog", "cat", "dog")
    p = probe_lib.make_probe((x, np.array([1, 0, 2])), max_images=8)
    assert p.labels == ("1", "0", "2")


def test_probe_tuple_with_one_hot_labels():
    x = np.zeros((3, 4, 4, 1))
    y = np.eye(3, dtype="float32")[[2, 0, 1]]
    assert probe_lib.make_probe((x, y), 8, class_names=["a", "b", "c"]).labels == ("c", "a", "b")
    assert probe_lib.make_probe((x, y), 8).labels == ("2", "0", "1")


def test_probe_tuple_labels_capped_with_images():
    x = np.zeros((6, 4, 4, 1))
    p = probe_lib.make_probe((x, np.arange(6)), max_images=2)
    assert p.inputs.shape[0] == 2 and p.labels == ("0", "1")


def test_probe_from_dataset_first_batch():
    x = np.arange(10 * 2 * 2).reshape(10, 2, 2, 1).astype("float32")
    y = np.arange(10) % 2
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    p = probe_lib.make_probe(ds, max_images=16, class_names=["even", "odd"])
    np.testing.assert_array_equal(p.inputs, x[:4])
    assert p.labels == ("even", "odd", "even", "odd")
    p = probe_lib.make_probe(tf.data.Dataset.from_tensor_slices(x).batch(3), max_images=2)
    np.testing.assert_array_equal(p.inputs, x[:2])


@pytest.mark.parametrize(
    "probe",
    [np.zeros((0, 4, 4, 1)), tf.data.Dataset.from_tensor_slices(np.zeros((0, 2))).batch(2), None],
    ids=["empty array", "empty dataset", "None"],
)
def test_empty_probe_is_an_error(probe):
    with pytest.raises(ValueError):
        probe_lib.make_probe(probe, max_images=8)
