"""ActivationLogger on every kind of model and layer output, each with a real fit.

Each case builds a small model, trains it one epoch with the callback, reads
the log dir back and checks what was logged (steps, geometry, map kind).
"""

import logging
import os

import keras
import numpy as np
import pytest
from keras import layers, ops

from keras_helpers import compiles_per_training, to_numpy
from log_parsing import area_average
from tb_actviz import ActivationLogger, metadata
from tb_actviz.reader import LogReader

RNG = np.random.default_rng(0)


def _images(n=8, size=12, channels=3):
    return RNG.random((n, size, size, channels), dtype=np.float32)


def _labels(n=8):
    return RNG.integers(0, 2, n)


def _classifier_head(x):
    return layers.Dense(2, activation="softmax")(layers.Flatten()(x))


def _conv_base(name, size=12, channels=3):
    inputs = keras.Input((size, size, channels))
    x = layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = layers.Conv2D(6, 3, name="c2")(x)
    return keras.Model(inputs, x, name=name)


def sequential_without_input():
    model = keras.Sequential([layers.Conv2D(4, 3, name="c1"), layers.GlobalAveragePooling2D(), layers.Dense(2)])
    return model, _images(), _labels(), None, {"c1": "maps"}


def functional():
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(4, 3, name="c1")(inputs)
    x = layers.DepthwiseConv2D(3, name="dw")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Activation("relu", name="act")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    model = keras.Model(inputs, _classifier_head(x))
    expected = {p: "maps" for p in ("c1", "dw", "bn", "act", "pool")}
    return model, _images(), _labels(), list(expected), expected


def nested_in_sequential():
    model = keras.Sequential([keras.Input((12, 12, 3)), _conv_base("base"), layers.Flatten(), layers.Dense(2)])
    return model, _images(), _labels(), ["base/1", "base/-1"], {"base/c1": "maps", "base/c2": "maps"}


def nested_two_deep():
    inner = _conv_base("inner")
    mid_in = keras.Input((12, 12, 3))
    mid = keras.Model(mid_in, layers.Conv2D(3, 1, name="mix")(inner(mid_in)), name="mid")
    inputs = keras.Input((12, 12, 3))
    model = keras.Model(inputs, _classifier_head(mid(inputs)))
    expected = {"mid/inner/c1": "maps", "mid/mix": "maps"}
    return model, _images(), _labels(), list(expected), expected


def shared_layer():
    inputs = keras.Input((12, 12, 3))
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    x = shared(shared(inputs))  # called twice: the first call is logged
    return keras.Model(inputs, _classifier_head(x)), _images(), _labels(), ["shared"], {"shared": "maps"}


def _two_inputs():
    a, b = keras.Input((12, 12, 3), name="a"), keras.Input((12, 12, 1), name="b")
    x = layers.Concatenate()([layers.Conv2D(2, 3, name="ca")(a), layers.Conv2D(2, 3, name="cb")(b)])
    return keras.Model([a, b], _classifier_head(x))


def multi_input_list():
    x = [_images(), _images(channels=1)]
    return _two_inputs(), x, _labels(), ["ca", "cb"], {"ca": "maps", "cb": "maps"}


def multi_input_dict():
    x = {"a": _images(), "b": _images(channels=1)}
    return _two_inputs(), x, _labels(), ["ca", "cb"], {"ca": "maps", "cb": "maps"}


def multi_output():
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(4, 3, name="c1")(inputs)
    flat = layers.Flatten()(x)
    model = keras.Model(inputs, [layers.Dense(2, name="head_a")(flat), layers.Dense(1, name="head_b")(flat)])
    y = (_labels(), RNG.random((8, 1)).astype("float32"))
    return model, _images(), y, ["c1", "head_a"], {"c1": "maps", "head_a": "units"}


def _skip_without_channels_first_kernels():
    """TensorFlow's CPU kernels run channels-first 2-D convolutions only with
    oneDNN, which TensorFlow leaves off on some CPUs (AMD EPYC here): there
    Keras itself cannot run such a model (its `predict` fails), so neither
    can a log. JAX and PyTorch run these cases everywhere."""
    if keras.backend.backend() != "tensorflow":
        return
    probe = keras.Sequential([keras.Input((3, 4, 4)), layers.Conv2D(1, 3, data_format="channels_first")])
    try:
        probe.predict(np.zeros((1, 3, 4, 4), "float32"), verbose=0)
    except Exception as e:  # noqa: BLE001 - TensorFlow's UnimplementedError / InvalidArgumentError
        pytest.skip("this TensorFlow build has no channels-first Conv2D on this CPU (oneDNN off): %s"
                    % str(e).strip().splitlines()[-1][:200])


def channels_first():
    _skip_without_channels_first_kernels()
    inputs = keras.Input((3, 12, 12))
    x = layers.Conv2D(4, 3, data_format="channels_first", name="c1")(inputs)
    model = keras.Model(inputs, _classifier_head(x))
    return model, _images().transpose(0, 3, 1, 2).copy(), _labels(), ["c1"], {"c1": "maps"}


def sequences_and_units():
    inputs = keras.Input((10, 3))
    x = layers.Conv1D(4, 3, name="conv1d")(inputs)
    x = layers.LSTM(5, return_sequences=True, name="lstm")(x)
    x = layers.MultiHeadAttention(2, 4, name="attention")(x, x)
    x = layers.Dense(3, name="dense")(layers.Flatten()(x))
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    expected = {"conv1d": "sequence", "lstm": "sequence", "attention": "sequence", "dense": "units"}
    return model, RNG.random((8, 10, 3)).astype("float32"), _labels(), list(expected), expected


def volumes():
    inputs = keras.Input((6, 8, 8, 1))
    x = layers.Conv3D(3, 3, name="conv3d")(inputs)
    model = keras.Model(inputs, _classifier_head(x))
    x = RNG.random((8, 6, 8, 8, 1)).astype("float32")
    return model, x, _labels(), ["conv3d"], {"conv3d": "volume_max_projection"}


CASES = [
    sequential_without_input,
    functional,
    nested_in_sequential,
    nested_two_deep,
    shared_layer,
    multi_input_list,
    multi_input_dict,
    multi_output,
    channels_first,
    sequences_and_units,
    volumes,
]


def _fit(model, x, y, log_dir, layers_arg, losses=None):
    model.compile("adam", losses or "sparse_categorical_crossentropy")
    callback = ActivationLogger(log_dir, probe=x, layers=layers_arg, max_images=4, verbose=0)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[callback])
    return callback


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_model_kinds_are_logged(case, tmp_path):
    model, x, y, layers_arg, expected = case()
    losses = ["sparse_categorical_crossentropy", "mse"] if case is multi_output else None
    if case is sequences_and_units:
        losses = "sparse_categorical_crossentropy"
    callback = _fit(model, x, y, str(tmp_path), layers_arg, losses)
    assert callback.trace_count == compiles_per_training()
    tags = LogReader(str(tmp_path)).tags()["train"]
    logged = {md.layer_path: md for md in tags.values() if md.kind == metadata.Kind.LAYER}
    assert {p: md.map_kind for p, md in logged.items()} == expected
    reader = LogReader(str(tmp_path))
    for path, md in logged.items():
        snapshot = reader.layer("train", metadata.layer_tag(path))
        assert reader.steps("train", metadata.layer_tag(path)) == [0, 1]
        assert snapshot.quantized.shape == (
            len(md.filter_indices), 4, md.map_height, md.map_width
        )
        assert np.isfinite(snapshot.stats).all()


def test_channels_first_maps_are_transposed_correctly(tmp_path):
    model, x, y, layers_arg, _ = channels_first()
    _fit(model, x, y, str(tmp_path), layers_arg)
    # After training, compare the last log with the model's own output.
    snapshot = LogReader(str(tmp_path)).layer("train", metadata.layer_tag("c1"))
    sub = keras.Model(model.inputs, model.get_layer("c1").output)
    expected = to_numpy(sub(x[:4])).transpose(1, 0, 2, 3)  # (F, N, h, w)
    span = (snapshot.stat("max") - snapshot.stat("min"))[..., None, None]
    assert np.all(np.abs(snapshot.values() - expected) <= span / 255 + 1e-5)


def test_mixed_float16_policy(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, x, y, layers_arg, expected = functional()
        _fit(model, x, y, str(tmp_path), ["c1"])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    md = LogReader(str(tmp_path)).tags()["train"][metadata.layer_tag("c1")]
    assert md.map_kind == "maps" and md.map_height == 10


def test_augmentation_runs_in_inference_mode_for_the_probe(tmp_path):
    inputs = keras.Input((12, 12, 3))
    x = layers.Rescaling(2.0, name="rescale")(inputs)
    x = layers.RandomFlip("horizontal_and_vertical", name="flip")(x)
    x = layers.RandomRotation(0.5, name="rotate")(x)
    model = keras.Model(inputs, _classifier_head(layers.Conv2D(2, 3)(x)))
    probe = _images()
    _fit(model, probe, _labels(), str(tmp_path), ["rotate"])
    snapshot = LogReader(str(tmp_path)).layer("train", metadata.layer_tag("rotate"), step=1)
    # Inference mode: no flip, no rotation; exactly the rescaled probe.
    expected = (2.0 * probe[:4]).transpose(3, 0, 1, 2)
    span = (snapshot.stat("max") - snapshot.stat("min"))[..., None, None]
    assert np.all(np.abs(snapshot.values() - expected) <= span / 255 + 1e-5)


class _IsPositive(layers.Layer):
    """A layer with a boolean output."""

    def call(self, x):
        return x > 0

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="bool")


def test_integer_outputs_are_skipped_with_one_warning(tmp_path, caplog):
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(2, 3, name="c1")(inputs)
    as_int = layers.Discretization(bin_boundaries=[0.0], name="as_int")(x)
    as_bool = _IsPositive(name="as_bool")(x)
    assert "int" in str(as_int.dtype) and as_bool.dtype == "bool"
    merged = layers.Concatenate()([ops.cast(as_int, "float32"), ops.cast(as_bool, "float32")])
    model = keras.Model(inputs, _classifier_head(merged))
    with caplog.at_level(logging.WARNING, logger="tb_actviz"):
        _fit(model, _images(), _labels(), str(tmp_path), ["c1", "as_int", "as_bool"])
    warnings = [r.getMessage() for r in caplog.records if "integer or boolean" in r.getMessage()]
    assert len(warnings) == 1 and "as_int" in warnings[0] and "as_bool" in warnings[0]
    tags = LogReader(str(tmp_path)).tags()["train"]
    assert metadata.layer_tag("c1") in tags and metadata.layer_tag("as_int") not in tags


def test_nan_and_inf_are_counted_not_fatal(tmp_path):
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(2, 3, name="c1")(inputs)
    # NaN where the probe pixel is bright, +Inf where dark; repaired before the loss.
    broken = layers.Lambda(
        lambda t: ops.where(t > 0.9, np.nan, ops.where(t < 0.05, np.inf, t)), name="broken"
    )(inputs)
    repaired = layers.Lambda(lambda t: ops.nan_to_num(t, posinf=0.0), name="repaired")(broken)
    merged = layers.Concatenate()([x, layers.Conv2D(2, 3)(repaired)])
    model = keras.Model(inputs, _classifier_head(merged))
    probe = _images()
    _fit(model, probe, _labels(), str(tmp_path), ["broken"])
    snapshot = LogReader(str(tmp_path)).layer("train", metadata.layer_tag("broken"))
    expected = ((probe[:4] > 0.9) | (probe[:4] < 0.05)).sum(axis=(1, 2)).T  # (F, N)
    assert np.array_equal(snapshot.stat("nonfinite_count"), expected)
    finite = probe[:4].transpose(3, 0, 1, 2)
    finite = np.where((finite > 0.9) | (finite < 0.05), np.nan, finite)
    assert np.allclose(snapshot.stat("max"), np.nanmax(finite, axis=(2, 3)), atol=1e-6)


def test_constant_maps_are_stored_flat(tmp_path):
    inputs = keras.Input((12, 12, 3))
    dead = layers.Conv2D(2, 3, kernel_initializer="zeros", bias_initializer="zeros",
                         trainable=False, name="dead")(inputs)
    model = keras.Model(inputs, _classifier_head(layers.Concatenate()([dead, layers.Conv2D(2, 3)(inputs)])))
    _fit(model, _images(), _labels(), str(tmp_path), ["dead"])
    snapshot = LogReader(str(tmp_path)).layer("train", metadata.layer_tag("dead"))
    assert not snapshot.quantized.any()
    assert np.array_equal(snapshot.stat("min"), snapshot.stat("max"))
    assert np.isfinite(snapshot.values()).all()


def test_subclassed_model_is_logged_from_its_forward_pass(tmp_path):
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(2, 3, name="conv")
            self.head = layers.Dense(2)

        def call(self, x):
            return self.head(ops.mean(self.conv(x), axis=(1, 2)))

    model = Subclassed()
    x = _images()
    callback = _fit(model, x, _labels(), str(tmp_path), None)
    snapshot = LogReader(str(tmp_path)).layer("train", metadata.layer_tag("conv"))
    expected = to_numpy(model.conv(x[:4])).transpose(3, 0, 1, 2)
    span = (snapshot.stat("max") - snapshot.stat("min"))[..., None, None]
    assert np.all(np.abs(snapshot.values() - expected) <= span / 255 + 1e-5)
    assert callback.trace_count == (0 if keras.backend.backend() == "torch" else 1)


def test_unknown_input_sizes_log_at_the_probe_size(tmp_path):
    inputs = keras.Input((None, None, 3))
    features = layers.Conv2D(3, 3, name="f1")(inputs)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(
        layers.GlobalAveragePooling2D()(features)))
    x = _images(size=14)
    _fit(model, x, _labels(), str(tmp_path), ["f1"])
    md = LogReader(str(tmp_path)).tags()["train"][metadata.layer_tag("f1")]
    assert (md.map_height, md.map_width) == (12, 12)
    assert tuple(md.output_shape) == (12, 12, 3)


def _assert_logged_maps_match(snapshot, outputs):
    """The stored maps equal `outputs` (NHWC, the model's own, area-averaged
    as stored) within one 8-bit step of each map's range."""
    factor = snapshot.info.downsample_factor
    count = len(snapshot.info.filter_indices)
    expected = area_average(np.asarray(outputs)[..., :count], factor).transpose(3, 0, 1, 2)
    span = (snapshot.stat("max") - snapshot.stat("min"))[..., None, None]
    assert np.all(np.abs(snapshot.values() - expected) <= span / 255 + 1e-4 * (1 + np.abs(expected)))


def test_nested_vgg16_first_and_last_conv_layers_as_the_seed_selects_them(tmp_path):
    # The seed case: keras.applications.VGG16 (weights=None) nested in a
    # classifier, "vgg16/1" and "vgg16/-2" its first and last conv layers.
    keras.utils.set_random_seed(0)
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    model = keras.Sequential([keras.Input((32, 32, 3)), base, layers.GlobalAveragePooling2D(),
                              layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _images(8, 32), _labels(8)
    callback = ActivationLogger(str(tmp_path), probe=x[:4], layers=["vgg16/1", "vgg16/-2"],
                                max_map_size=16, verbose=0)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[callback])
    reader = LogReader(str(tmp_path))
    paths = {md.layer_path for md in reader.tags()["train"].values() if md.kind == metadata.Kind.LAYER}
    assert paths == {"vgg16/block1_conv1", "vgg16/block5_conv3"}
    for name in ("block1_conv1", "block5_conv3"):
        tag = metadata.layer_tag("vgg16/" + name)
        assert reader.steps("train", tag) == [0, 1]
        own = to_numpy(keras.Model(base.inputs, base.get_layer(name).output)(x[:4]))
        _assert_logged_maps_match(reader.layer("train", tag), own)


def test_each_log_reads_the_weights_of_its_step(tmp_path):
    # Logged every batch: the maps of step s are the model's own output
    # after s batches, read through Keras's accessors at that very batch
    # (on JAX the weights live outside the model mid-epoch).
    keras.utils.set_random_seed(0)
    model, x, y, _, _ = functional()
    model.compile("adam", "sparse_categorical_crossentropy")
    own = {}

    class RecordOwnOutputs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.done = 0

        def on_train_batch_begin(self, batch, logs=None):
            m = self.model
            own[self.done] = to_numpy(keras.Model(m.inputs, m.get_layer("c1").output)(x[:4]))
            self.done += 1

    logger = ActivationLogger(str(tmp_path), probe=x[:4], layers="c1", update_freq=1, verbose=0)
    # The logger first: it must read this step's weights by itself.
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[logger, RecordOwnOutputs()])
    reader = LogReader(str(tmp_path))
    tag = metadata.layer_tag("c1")
    steps = reader.steps("train", tag)
    assert steps == [0, 1, 2, 3, 4]
    for step in steps[:-1]:  # the last is logged at epoch end, after the last batch
        _assert_logged_maps_match(reader.layer("train", tag, step), own[step])
    changes = [np.abs(own[s + 1] - own[s]).max() for s in range(3)]
    assert min(changes) > 0  # the weights did change between the logs compared


def test_a_log_changes_no_state_of_a_subclassed_model_in_training():
    from tb_actviz.capture import extractor, layer_selection, layer_tree, log_capture, probe as probe_lib

    class WithNoise(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(4, 3, name="conv")
            self.bn = layers.BatchNormalization(name="bn")
            self.drop = layers.Dropout(0.5, name="drop")
            self.noise = layers.GaussianNoise(1.0, name="noise")
            self.head = layers.Dense(2, activation="softmax")

        def call(self, x, training=False):
            x = self.noise(self.drop(self.bn(self.conv(x), training=training), training=training),
                           training=training)
            return self.head(ops.mean(x, axis=(1, 2)))

    model = WithNoise()
    model.compile("adam", "sparse_categorical_crossentropy")
    x = _images()
    model.fit(x, _labels(), epochs=1, batch_size=4, verbose=0)  # moving statistics, optimizer slots
    probe = probe_lib.make_probe(x[:4], 4)
    entries = layer_tree.walk_layers(model, probe.inputs)
    logged = [extractor.LoggedLayer.of(e, 49, 32) for e in layer_selection.select_layers(
        model, ["conv", "bn", "drop", "noise"], entries=entries)]
    capture = log_capture.LogCapture(model, logged, [], probe)
    before = [to_numpy(v).copy() for v in model.variables]
    optimizer_before = [to_numpy(v).copy() for v in model.optimizer.variables]
    torch_rng = None
    if keras.backend.backend() == "torch":
        import torch

        torch_rng = torch.get_rng_state().clone()
    first, second = capture(), capture()
    for a, b in zip(first.layer_maps, second.layer_maps):
        np.testing.assert_array_equal(a, b)  # inference mode: no dropout, no noise
    for old, variable in zip(before, model.variables):
        np.testing.assert_array_equal(to_numpy(variable), old, err_msg=variable.path)
    for old, variable in zip(optimizer_before, model.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(variable), old, err_msg=variable.path)
    if torch_rng is not None:
        import torch

        assert torch.equal(torch.get_rng_state(), torch_rng)
    assert capture.compile_count == (0 if keras.backend.backend() == "torch" else 1)
    assert all("call" not in l.__dict__ for l in layer_tree.all_layers(model))


class _ClassToken(layers.Layer):
    """A ViT's class token: (batch, T, C) -> (batch, 1 + T, C)."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal",
                                     name="token")

    def call(self, x):
        return ops.concatenate([ops.zeros_like(x[:, :1]) + self.token, x], axis=1)


def _tiny_vit(size=(12, 18)):
    """Patch embedding (Conv2D, kernel == strides == 3: a 4 x 6 grid) ->
    tokens -> class token -> attention block -> pooled softmax, and a
    'valid' Conv1D over the tokens (23 of them: no grid) beside it."""
    inputs = keras.Input(size + (3,))
    x = layers.Conv2D(8, 3, strides=3, name="embed")(inputs)
    x = layers.Reshape((x.shape[1] * x.shape[2], 8), name="patches")(x)
    x = _ClassToken(name="with_cls")(x)
    x = layers.LayerNormalization(name="norm")(x)
    x = layers.Add(name="block")([x, layers.MultiHeadAttention(2, 4, name="attention")(x, x)])
    x = layers.Dense(12, activation="gelu", name="mlp")(x)
    sequence = layers.Conv1D(4, 3, name="conv1d")(x)
    pooled = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalAveragePooling1D()(sequence)])
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(pooled))


def test_vit_tokens_are_logged_as_their_patch_grid(tmp_path):
    # issue [13], point 5: (batch, tokens, channels) outputs after a patch
    # embedding are h x w maps per channel, the class token left out; a
    # sequence of another length stays a sequence.
    keras.utils.set_random_seed(1)
    model = _tiny_vit()
    x = _images(size=12)
    x = np.concatenate([x, x[:, :, :6]], axis=2)  # 12 x 18
    paths = ["patches", "with_cls", "block", "mlp", "conv1d"]
    _fit(model, x, _labels(), str(tmp_path), paths)
    reader = LogReader(str(tmp_path))
    tags = reader.tags()["train"]
    logged = {md.layer_path: md for md in tags.values() if md.kind == metadata.Kind.LAYER}
    assert {p: (md.map_kind, md.leading_tokens) for p, md in logged.items()} == {
        "patches": ("token_grid", 0), "with_cls": ("token_grid", 1), "block": ("token_grid", 1),
        "mlp": ("token_grid", 1), "conv1d": ("sequence", 0)}
    for path in ("with_cls", "block", "mlp"):
        md = logged[path]
        assert (md.source_height, md.source_width, md.map_height, md.map_width) == (4, 6, 4, 6)
        assert tuple(md.output_shape) == (25, md.output_shape[1])  # 1 + 4 x 6 tokens
    for path in paths:
        snapshot = reader.layer("train", metadata.layer_tag(path))
        own = to_numpy(keras.Model(model.inputs, model.get_layer(path).output)(x[:4]))
        if path == "conv1d":
            _assert_logged_maps_match(snapshot, own[:, None])  # 1 x 23 per channel
            continue
        leading = snapshot.info.leading_tokens
        # Token leading + 6 * row + column is map pixel (row, column).
        _assert_logged_maps_match(snapshot, own[:, leading:].reshape(4, 4, 6, own.shape[-1]))


def test_token_grid_false_and_a_forced_layout(tmp_path):
    from tb_actviz import TokenGrid

    model = _tiny_vit()
    x = np.concatenate([_images(size=12), _images(size=12)[:, :, :6]], axis=2)
    model.compile("adam", "sparse_categorical_crossentropy")
    off = ActivationLogger(str(tmp_path / "off"), probe=x, layers=["with_cls", "mlp"], max_images=4,
                           verbose=0, token_grid=False)
    forced = ActivationLogger(str(tmp_path / "forced"), probe=x, layers=["with_cls", "conv1d"],
                              max_images=4, verbose=0, token_grid={"conv1d": TokenGrid(leading=7)})
    model.fit(x, _labels(), epochs=1, batch_size=4, verbose=0, callbacks=[off, forced])
    tags = LogReader(str(tmp_path / "off")).tags()["train"]
    assert {md.map_kind for md in tags.values() if md.kind == metadata.Kind.LAYER} == {"sequence"}
    tags = LogReader(str(tmp_path / "forced")).tags()["train"]
    kinds = {md.layer_path: (md.map_kind, md.leading_tokens, md.source_height, md.source_width)
             for md in tags.values() if md.kind == metadata.Kind.LAYER}
    assert kinds == {"with_cls": ("token_grid", 1, 4, 6), "conv1d": ("token_grid", 7, 4, 4)}
    bad = ActivationLogger(str(tmp_path / "bad"), probe=x, layers=["with_cls"], verbose=0,
                           token_grid=TokenGrid(5, 5, leading=1))
    with pytest.raises(ValueError, match=r"'with_cls' has 25 tokens.*TokenGrid\(height=4, width=6, leading=1\)"):
        model.fit(x, _labels(), epochs=1, batch_size=4, verbose=0, callbacks=[bad])


def test_the_subclassed_example_logs_the_layers_inside_its_block(tmp_path):
    import runpy
    import sys

    from paths import EXAMPLES as examples
    sys.path.insert(0, examples)
    try:
        runpy.run_path(os.path.join(examples, "subclassed.py"))["main"](
            ["--log_dir", str(tmp_path), "--epochs", "1", "--image_size", "24", "--probe_size", "4"])
    finally:
        sys.path.remove(examples)
    tags = LogReader(str(tmp_path)).tags()["train"]
    assert {md.layer_path for md in tags.values() if md.kind == metadata.Kind.LAYER} == {
        "stem", "block/conv_a", "block/conv_b", "block", "widen"}
    cam = [md.layer_path for md in tags.values() if md.kind == metadata.Kind.ATTRIBUTION and md.layer_path]
    assert cam == ["block/conv_b"]
