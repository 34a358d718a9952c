"""ActivationLogger with real `model.fit` on tiny models, and the probe argument
(make_probe alone: tests/unit/capture/test_probe.py)."""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_helpers import compiles_per_training, has_tensorflow, to_numpy
from log_parsing import decode_png, logged_steps, read_run
from tb_actviz import ActivationLogger

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
    assert cb.trace_count == compiles_per_training()


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
    assert cb.trace_count == compiles_per_training()
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
    assert cb.trace_count == compiles_per_training()


def test_a_second_fit_with_the_same_callback_goes_on_from_its_last_step(tmp_path):
    from tb_actviz.reader import LogReader

    x, y = data()
    model = tiny()
    cb = ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)
    fit(model, x, y, [cb], epochs=2)
    fit(model, x, y, [cb], epochs=2)  # no initial_epoch: Keras counts epochs 0, 1 again
    assert logged_steps(run_dir(tmp_path), TAG) == [0, 1, 2, 3, 4]  # each step once
    reader = LogReader(str(tmp_path))
    assert reader.steps("train", TAG) == [0, 1, 2, 3, 4] and reader.hidden_steps("train", TAG) == []


def test_a_new_training_into_a_used_log_dir_warns_and_readers_show_the_newer(tmp_path, caplog):
    from tb_actviz.reader import LogReader

    x, y = data()
    fit(tiny(), x, y, [ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)], epochs=3)
    keras.utils.set_random_seed(7)
    newer = tiny()
    with caplog.at_level("WARNING", logger="tb_actviz"):
        fit(newer, x, y, [ActivationLogger(tmp_path, probe=x[:2], layers="c", verbose=0)], epochs=1)
    (warning,) = [r.getMessage() for r in caplog.records if "earlier training" in r.getMessage()]
    assert "(steps 0 to 3); this training logs from step 0" in warning, warning
    assert "hide the earlier one's steps 0 to 3" in warning and "its own log_dir" in warning, warning
    reader = LogReader(str(tmp_path))
    # As TensorBoard's Rust data server shows it: the newer training from step 0 on.
    assert reader.steps("train", TAG) == [0, 1]
    assert [step for step, _ in reader.hidden_steps("train", TAG)] == [0, 1, 2, 3]
    maps = to_numpy(keras.Model(newer.inputs, newer.get_layer("c").output)(x[:2]))
    low, high = reader.layer("train", TAG, 1).stat("min"), reader.layer("train", TAG, 1).stat("max")
    np.testing.assert_allclose(low[:, 0], maps[0].reshape(-1, 3).min(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(high[:, 0], maps[0].reshape(-1, 3).max(axis=0), rtol=1e-5, atol=1e-6)


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


@pytest.mark.skipif(not has_tensorflow(), reason="keras.callbacks.TensorBoard needs TensorFlow")
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
    assert int(to_numpy(model.optimizer.iterations)) == 0
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
    batches = []
    count = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    with pytest.raises(ValueError, match=r"\(6, 6, 1\)"):
        fit(model, x, y, [count, cb])
    # A model without an Input is built by its first batch, from the real
    # data; the probe is checked right after that one batch. (The JAX and
    # PyTorch trainers build it from the data before any batch: no batch runs.)
    assert len(batches) == (1 if keras.backend.backend() == "tensorflow" else 0)


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


# The probe in a fit ------------------------------------------------------------------------


def test_a_single_sample_as_the_probe_suggests_a_batch(tmp_path):
    x, y = data()
    model = tiny()
    cb = ActivationLogger(tmp_path, probe=x[0], layers="c", verbose=0)
    with pytest.raises(ValueError, match=r"one sample of shape \(6, 6, 1\).*dataset.batch\(8\)"):
        fit(model, x, y, [cb])


def test_an_unbatched_dataset_as_the_probe_suggests_batch(tmp_path):
    tf = pytest.importorskip("tensorflow")
    x, y = data()
    model = tiny()
    cb = ActivationLogger(tmp_path, probe=tf.data.Dataset.from_tensor_slices(x), layers="c", verbose=0)
    with pytest.raises(ValueError, match=r"not a batch.*dataset.batch\(8\)"):
        fit(model, x, y, [cb])


# Models and environments that cannot be logged -----------------------------------------


def test_a_tf_keras_model_is_refused_with_what_to_do(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    from tb_actviz import list_layers

    model = tf_keras.Sequential([tf_keras.Input((6, 6, 1)), tf_keras.layers.Conv2D(2, 3, name="c")])
    model.compile("sgd", "mse")
    x = np.zeros((4, 6, 6, 1), "float32")
    with pytest.raises(TypeError, match="tf_keras .Keras 2. model.*needs Keras 3"):
        list_layers(model)
    with pytest.raises(TypeError, match="tf_keras .Keras 2. model.*needs Keras 3"):
        model.fit(x, np.zeros((4, 4, 4, 2)), verbose=0,
                  callbacks=[ActivationLogger(tmp_path, probe=x, verbose=0)])
    assert not os.path.exists(run_dir(tmp_path))


def test_without_keras_the_import_says_what_to_install():
    code = (
        "import sys; sys.modules['keras'] = None\n"
        "try:\n"
        "    from tb_actviz import ActivationLogger\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'keras>=3.15' with one of tensorflow, jax or torch" in done.stdout, done
    assert "pip install '.[tensorflow]', '.[jax]' or '.[torch]'" in done.stdout, done


# Dict probes (hostile review [12], finding 1) --------------------------------------


def named_input_model(name="image", size=6):
    """A classifier whose one input is named `name` (conv maps 4x4: Grad-CAM can run)."""
    inputs = keras.Input((size, size, 1), name=name)
    x = L.Conv2D(3, 3, name="c")(inputs)
    model = keras.Model(inputs, L.Dense(2, name="d")(L.Flatten(name="flat")(x)))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def probe_labels(log_dir):
    from tb_actviz.reader import LogReader

    return LogReader(str(log_dir)).probe("train")[1]


@pytest.mark.parametrize("attributions", [None, True], ids=["maps", "with attributions"])
def test_dict_probe_keyed_unlike_the_model_inputs_fails_at_train_begin(tmp_path, attributions):
    x, y = data()
    cb = ActivationLogger(tmp_path, probe={"pixels": x[:4], "label": y[:4]}, layers="c",
                          attributions=attributions, verbose=0)
    with pytest.raises(ValueError, match=r"keys \['pixels', 'label'\], but the model's inputs are "
                                         r"named \['image'\]"):
        fit(named_input_model(), x, y, [cb])
    assert not os.path.exists(run_dir(tmp_path))  # refused before anything was written


def _dict_probe(x, y, key):
    return {"image": x[:4], key: y[:4]}


DICT_PROBES = {
    "dict": lambda x, y: _dict_probe(x, y, "label"),
    "dict, key targets": lambda x, y: _dict_probe(x, y, "targets"),
    "one-tuple of a dict": lambda x, y: (_dict_probe(x, y, "y"),),
}


@pytest.mark.parametrize("make", list(DICT_PROBES.values()), ids=list(DICT_PROBES))
def test_dict_probe_with_a_label_key_logs_its_labels(tmp_path, make):
    from tb_actviz import metadata
    from tb_actviz.reader import LogReader

    keras.utils.set_random_seed(0)
    x, y = data()
    cb = ActivationLogger(tmp_path, probe=make(x, y), layers="c", class_names=["no", "yes"],
                          attributions=True, verbose=0)
    fit(named_input_model(), x, y, [cb])
    assert probe_labels(tmp_path) == [["no", "yes"][int(v)] for v in y[:4]]
    reader = LogReader(str(tmp_path))
    assert reader.steps("train", TAG) == [0, 1, 2]
    cam = reader.tags()["train"][metadata.attribution_tag("grad_cam")]
    assert cam.attribution_target == "label"  # Grad-CAM explains the labels taken from the dict
    assert reader.steps("train", metadata.attribution_tag("grad_cam")) == [0, 1, 2]


def test_dict_tf_data_probe_with_a_label_key_logs_its_labels(tmp_path):
    tf = pytest.importorskip("tensorflow")
    x, y = data()
    dataset = tf.data.Dataset.from_tensor_slices({"image": x, "label": y}).batch(4)
    cb = ActivationLogger(tmp_path, probe=dataset, layers="c", attributions=True, verbose=0)
    fit(named_input_model(), x, y, [cb])
    assert probe_labels(tmp_path) == [str(v) for v in y[:4]]
    assert logged_steps(run_dir(tmp_path), TAG) == [0, 1, 2]


def test_an_unbatched_dict_dataset_as_the_probe_suggests_batch():
    tf = pytest.importorskip("tensorflow")
    x, y = data()
    dataset = tf.data.Dataset.from_tensor_slices({"image": x, "label": y})
    with pytest.raises(ValueError, match=r"one sample, not a batch \('label' is a scalar\).*dataset.batch\(8\)"):
        ActivationLogger("unused", probe=dataset, verbose=0)


def test_dict_probe_keys_that_feed_nothing_and_are_no_label_key_are_named(tmp_path, caplog):
    x, y = data()
    cb = ActivationLogger(tmp_path, probe={"image": x[:4], "class_id": y[:4]}, layers="c", verbose=0)
    with caplog.at_level("WARNING", logger="tb_actviz"):
        fit(named_input_model(), x, y, [cb])
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "'class_id' are not inputs of the model (['image'])" in warned
    assert "'label'" in warned and "probe=(features, labels)" in warned
    assert probe_labels(tmp_path) == [""] * 4
    assert logged_steps(run_dir(tmp_path), TAG) == [0, 1, 2]


def test_a_dict_probe_with_several_label_keys_is_refused(tmp_path):
    x, y = data()
    cb = ActivationLogger(tmp_path, probe={"image": x[:4], "label": y[:4], "y": y[:4]},
                          layers="c", verbose=0)
    with pytest.raises(ValueError, match=r"several keys that could hold the labels \('label', 'y'.*"
                                         r"probe=\(features, labels\)"):
        fit(named_input_model(), x, y, [cb])


# Keras warns that a dict-built model's keys should be its inputs' names; it runs them.
@pytest.mark.filterwarnings("ignore:When providing `inputs` as a dict")
def test_multi_input_dict_probe_with_labels_and_a_dict_built_model(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = data()
    # Two inputs fed by name, and labels under "label", in another key order.
    a, b = keras.Input((6, 6, 1), name="a"), keras.Input((6, 6, 1), name="b")
    joined = L.Concatenate()([L.Conv2D(2, 3, name="ca")(a), L.Conv2D(2, 3, name="cb")(b)])
    two = keras.Model([a, b], L.Dense(2)(L.Flatten()(joined)))
    two.compile("sgd", "sparse_categorical_crossentropy")
    probe = {"label": y[:4], "b": -x[:4], "a": x[:4]}
    cb = ActivationLogger(tmp_path / "two", probe=probe, layers=["ca", "cb"], verbose=0)
    fit(two, {"a": x, "b": -x}, y, [cb])
    assert probe_labels(tmp_path / "two") == [str(v) for v in y[:4]]
    np.testing.assert_array_equal(cb.probe.inputs[0], x[:4])  # in the order of model.inputs
    # A model built on a dict: its keys feed the inputs, whatever the inputs' names.
    inputs = keras.Input((6, 6, 1), name="pixels_in")
    dict_built = keras.Model({"img": inputs}, L.Dense(2)(L.Flatten()(L.Conv2D(3, 3, name="c")(inputs))))
    dict_built.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = ActivationLogger(tmp_path / "dict", probe={"img": x[:4], "label": y[:4]}, layers="c",
                          attributions=True, verbose=0)
    fit(dict_built, {"img": x}, y, [cb])
    assert probe_labels(tmp_path / "dict") == [str(v) for v in y[:4]]
    assert logged_steps(os.path.join(str(tmp_path / "dict"), "train"), TAG) == [0, 1, 2]


# Log dirs named as URLs (hostile review [12], finding 3) ---------------------------


@pytest.mark.parametrize("log_dir, meant", [
    ("memory://bucket/logs/../escape/run", "memory://bucket/escape/run"),
    ("memory://bucket/./logs", "memory://bucket/logs"),
    ("s3://bucket/logs//run", "s3://bucket/logs/run"),
], ids=["dot-dot", "dot", "double slash"])
def test_a_remote_log_dir_with_dot_segments_is_refused_at_construction(log_dir, meant):
    x, _ = data()
    with pytest.raises(ValueError, match=r"TensorBoard names runs with them resolved.*Pass the path "
                                         r"meant: %r" % meant):
        ActivationLogger(log_dir, probe=x[:2], layers="c", verbose=0)


@pytest.mark.parametrize("prefix", ["file://", "file://localhost"])
def test_a_file_url_log_dir_is_the_local_path_it_names(tmp_path, prefix):
    x, y = data()
    local = str(tmp_path / "logs")
    cb = ActivationLogger(prefix + local, probe=x[:2], layers="c", verbose=0)
    assert cb.run_dir == os.path.join(local, "train")
    fit(tiny(), x, y, [cb])
    assert logged_steps(os.path.join(local, "train"), TAG) == [0, 1, 2]
    assert os.listdir(os.path.join(local, "train", "plugins", "activations"))


def test_a_file_url_of_another_host_is_refused():
    x, _ = data()
    with pytest.raises(ValueError, match="file:///abs/path"):
        ActivationLogger("file://server/logs", probe=x[:2], layers="c", verbose=0)
