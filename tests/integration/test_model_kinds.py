"""Every kind of Keras model, trained with a real `model.fit`, logged from its
own forward pass: a subclassed CNN with a custom residual block (layers
inside a custom layer, a Sequential inside that), a subclassed U-Net with
skip connections, a fully convolutional Functional model with `None` input
sizes, and keras_hub's ResNet and ViT backbones built from a config and
nested in a classifier.

For each, what was logged at the last step is compared with the layer's own
eager output on the probe after training, computed here independently (the
sublayers called by hand as `call` calls them, or a functional sub-model),
area-averaged as stored (`max_map_size`) and compared within one 8-bit level
of each map's range. Also: every `layers=` form on layers inside a custom
layer, `list_layers(model, probe=...)` rows as `layers=` values, a layer the
pass never calls, a layer called twice, trace counts, and that a log changes
no variable (weights, optimizer state, BatchNorm statistics).
"""

import logging
import math

import keras
import numpy as np
import pytest
from keras import layers, ops

from keras_helpers import compiles_per_training, to_numpy
from log_parsing import area_average
import tb_actviz
from tb_actviz import ActivationLogger, Attributions, metadata
from tb_actviz.capture import layer_selection
from tb_actviz.reader import LogReader

CLASSES = 3
SIZE = 16
EPOCHS = 2
PROBE = 4
GRAD_CAM_TAG = metadata.attribution_tag("grad_cam")
SALIENCY_TAG = metadata.attribution_tag("saliency")


def _data(n=32, size=SIZE, seed=0):
    """Images whose class is which third of the rows is bright (in one channel)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0.0, 0.3, (n, size, size, 3))
    band = size // CLASSES
    for i, k in enumerate(y):
        x[i, k * band:(k + 1) * band, :, k] += 1.0
    return x.astype("float32"), y


# The models ----------------------------------------------------------------


class Residual(layers.Layer):
    """x + cb(ca(x)), then a Sequential (BatchNormalization, ReLU)."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.ca = layers.Conv2D(filters, 3, padding="same", activation="relu", name="ca")
        self.cb = layers.Conv2D(filters, 3, padding="same", name="cb")
        self.post = keras.Sequential(
            [layers.BatchNormalization(name="bn"), layers.Activation("relu", name="relu")], name="post")

    def call(self, x, training=None):
        return self.post(ops.add(x, self.cb(self.ca(x))), training=training)


class Net(keras.Model):
    """stem -> blk (Residual) -> global average -> dropout -> softmax. The
    block is an attribute before the stem: attribute order is not call order.
    `spare`: a conv layer that `call` never calls."""

    def __init__(self, spare=False):
        super().__init__(name="net")
        self.blk = Residual(8, name="blk")
        self.stem = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")
        self.gap = layers.GlobalAveragePooling2D(name="gap")
        self.drop = layers.Dropout(0.3, name="drop")
        self.head = layers.Dense(CLASSES, activation="softmax", name="head")
        if spare:
            self.spare = layers.Conv2D(4, 1, name="spare")

    def call(self, x, training=None):
        # `training` handed on by hand: Keras 3 drops fit's training=True
        # for a model whose `call` has no such argument, and on JAX
        # (`stateless_call` runs `call` itself) gives sublayers no training
        # context either. BatchNorm would never update, Dropout never drop,
        # and a log run in training mode could not be told from one that is not.
        x = self.blk(self.stem(x), training=training)
        return self.head(self.drop(self.gap(x), training=training))


def net_outputs(net, x):
    """Every layer's output on `x` in inference mode, the sublayers called
    by hand as `Net.call` and `Residual.call` call them."""
    x = ops.convert_to_tensor(x)
    blk = net.blk
    stem = net.stem(x)
    ca = blk.ca(stem)
    cb = blk.cb(ca)
    bn = blk.post.layers[0](ops.add(stem, cb), training=False)
    relu = blk.post.layers[1](bn)
    gap = net.gap(relu)
    drop = net.drop(gap, training=False)
    head = net.head(drop)
    outputs = {"stem": stem, "blk": relu, "blk/ca": ca, "blk/cb": cb, "blk/post/bn": bn,
               "blk/post/relu": relu, "gap": gap, "drop": drop, "head": head}
    return {path: to_numpy(value) for path, value in outputs.items()}


class UNet(keras.Model):
    """down1 -> pool -> mid -> up, concatenated with down1 (the skip) -> up1
    -> global average -> softmax. Attributes in another order than calls."""

    def __init__(self):
        super().__init__(name="unet")
        self.up1 = layers.Conv2D(4, 3, padding="same", activation="relu", name="up1")
        self.mid = layers.Conv2D(8, 3, padding="same", activation="relu", name="mid")
        self.down1 = layers.Conv2D(4, 3, padding="same", activation="relu", name="down1")
        self.pool = layers.MaxPooling2D(name="pool")
        self.up = layers.UpSampling2D(name="up")
        self.cat = layers.Concatenate(name="cat")
        self.gap = layers.GlobalAveragePooling2D(name="gap")
        self.head = layers.Dense(CLASSES, activation="softmax", name="head")

    def call(self, x):
        d = self.down1(x)
        u = self.up(self.mid(self.pool(d)))
        return self.head(self.gap(self.up1(self.cat([u, d]))))


def unet_outputs(net, x):
    x = ops.convert_to_tensor(x)
    down1 = net.down1(x)
    pool = net.pool(down1)
    mid = net.mid(pool)
    up = net.up(mid)
    cat = net.cat([up, down1])
    up1 = net.up1(cat)
    outputs = {"down1": down1, "pool": pool, "mid": mid, "up": up, "cat": cat, "up1": up1}
    return {path: to_numpy(value) for path, value in outputs.items()}


class Shared(keras.Model):
    """One conv applied twice per pass."""

    def __init__(self):
        super().__init__(name="twice")
        self.shared = layers.Conv2D(3, 3, padding="same", activation="relu", name="shared")
        self.gap = layers.GlobalAveragePooling2D(name="gap")
        self.head = layers.Dense(CLASSES, activation="softmax", name="head")

    def call(self, x):
        return self.head(self.gap(self.shared(self.shared(x))))


def fully_convolutional():
    inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    x = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = layers.Conv2D(CLASSES, 1, name="logits")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Activation("softmax", name="softmax")(x), name="fcn")


def tiny_resnet():
    import keras_hub

    # keras_hub requires stackwise_num_filters[0] == 64, and a basic_block
    # first stack without a conv shortcut needs as many input channels.
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16], stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2],
        block_type="basic_block", image_shape=(32, 32, 3), name="resnet")


def tiny_vit():
    import keras_hub

    return keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
        mlp_dim=32, name="vit")


def classifier_on(backbone, pooling):
    inputs = keras.Input((32, 32, 3))
    x = pooling(backbone(inputs))
    return keras.Model(inputs, layers.Dense(CLASSES, activation="softmax", name="head")(x),
                       name="classifier")


# Fitting and reading back ----------------------------------------------------


def fit(model, x, y, log_dir, layers_arg, epochs=EPOCHS, **kwargs):
    """`model.fit` with an ActivationLogger on the probe (x[:4], y[:4])."""
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    logger = ActivationLogger(log_dir, probe=(x[:PROBE], y[:PROBE]), layers=layers_arg, verbose=0,
                              **kwargs)
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.trace_count == compiles_per_training()
    return logger


def logged_layers(log_dir):
    """{layer path: ActivationsPluginData} of the run's layer tags."""
    tags = LogReader(log_dir).tags()["train"]
    return {md.layer_path: md for md in tags.values() if md.kind == metadata.Kind.LAYER}


def as_stored_nhwc(output, map_kind, info=None):
    """A layer's output (batch first) as the NHWC maps the format stores
    for its map kind (docs/format.md): units one row of width units,
    sequences one row of width steps with a filter per feature, a token
    grid the tokens after the leading ones, row-major."""
    output = np.asarray(output, np.float64)
    if map_kind == "token_grid":
        grid = output[:, info.leading_tokens:]
        return grid.reshape(len(output), info.source_height, info.source_width, output.shape[-1])
    if map_kind == "units":
        return output.reshape(len(output), 1, -1, 1)
    if map_kind == "sequence":
        return output[:, None]
    assert map_kind == "maps", map_kind
    return output


def assert_stored(log_dir, path, output, max_map_size=32, max_filters=49,
                  steps=tuple(range(EPOCHS + 1))):
    """`path` was logged at `steps`, and its stored maps at the last equal
    `output` (the layer's own, batch first), area-averaged by the integer
    factor that fits max_map_size, within one 8-bit level of each map's range."""
    reader = LogReader(log_dir)
    tag = metadata.layer_tag(path)
    assert reader.steps("train", tag) == list(steps), path
    snapshot = reader.layer("train", tag, steps[-1])
    assert snapshot.step == steps[-1]
    info = snapshot.info
    expected = as_stored_nhwc(output[:PROBE], info.map_kind, info)
    _, height, width, channels = expected.shape
    factor = max(1, math.ceil(max(height, width) / max_map_size))
    assert info.downsample_factor == factor, path
    count = min(channels, max_filters)
    assert list(info.filter_indices) == list(range(count)), path
    expected = area_average(expected[..., :count], factor).transpose(3, 0, 1, 2)
    assert snapshot.quantized.shape == expected.shape, path
    span = (snapshot.stat("max") - snapshot.stat("min"))[..., None, None]
    error = np.abs(snapshot.values() - expected)
    assert np.all(error <= span / 255 + 1e-4 * (1 + np.abs(expected))), (
        path, float(error.max()), float(span.max()))


# The subclassed CNN: every selection form, in one fit -------------------------


@pytest.fixture(scope="module")
def data():
    return _data()


FORMS = [
    ("name", "ca", {"blk/ca"}),
    ("path", "blk/ca", {"blk/ca"}),                 # relative to the model
    ("model-name-path", "net/blk/ca", {"blk/ca"}),  # the model's name in front
    ("conv:0", "conv:0", {"stem"}),                 # call order: blk is the first attribute
    ("conv:1", "conv:1", {"blk/ca"}),
    ("conv:-1", "conv:-1", {"blk/cb"}),
    # fnmatch, as for nested models: "*" crosses "/"; the Sequential itself
    # (a model) is not loggable, its layers are.
    ("glob", "blk/*", {"blk/ca", "blk/cb", "blk/post/bn", "blk/post/relu"}),
]


class NetRun:
    """One `model.fit` of a `Net`, with one ActivationLogger per selection
    form (each its own log dir), one given every `list_layers` row's
    first column, and one with attributions."""

    def __init__(self, root, data):
        x, y = data
        self.x, self.y = x, y
        self.model = Net()
        # Listed before training, from the probe (the model is not built yet).
        self.entries, self.values, self.rows = parsed_rows(self.model, x[:PROBE])
        self.loggable_values = [v for e, v in zip(self.entries, self.values) if e.loggable]
        self.dirs, self.loggers = {}, {}
        selections = {form: selection for form, selection, _ in FORMS}
        selections["rows"] = self.loggable_values
        for form, selection in selections.items():
            self.dirs[form] = str(root / form.replace(":", "_"))
            self.loggers[form] = ActivationLogger(
                self.dirs[form], probe=(x[:PROBE], y[:PROBE]), layers=selection, verbose=0)
        self.dirs["attributions"] = str(root / "attributions")
        self.loggers["attributions"] = ActivationLogger(
            self.dirs["attributions"], probe=(x[:PROBE], y[:PROBE]), layers="blk/ca",
            attributions=Attributions(layer="blk/cb"), verbose=0)
        keras.utils.set_random_seed(0)
        self.model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        self.model.fit(x, y, epochs=EPOCHS, batch_size=8, verbose=0, callbacks=list(self.loggers.values()))
        self.own = net_outputs(self.model, x[:PROBE])


@pytest.fixture(scope="module")
def net_run(tmp_path_factory, data):
    return NetRun(tmp_path_factory.mktemp("net"), data)


@pytest.mark.parametrize("form, selection, paths", FORMS, ids=[f for f, _, _ in FORMS])
def test_subclassed_cnn_selection_forms(net_run, form, selection, paths):
    log_dir = net_run.dirs[form]
    assert net_run.loggers[form].trace_count == compiles_per_training()
    logged = logged_layers(log_dir)
    assert set(logged) == paths
    reader = LogReader(log_dir)
    for path in paths:
        assert reader.steps("train", metadata.layer_tag(path)) == list(range(EPOCHS + 1))
        assert logged[path].map_kind == "maps"
        assert tuple(logged[path].output_shape) == net_run.own[path].shape[1:]
        assert_stored(log_dir, path, net_run.own[path])


def parsed_rows(model, probe):
    """list_layers(model, probe=...) printed: per entry its row's first
    column as a Python value (an int, or the quoted string) and the row."""
    printed = []
    entries = tb_actviz.list_layers(model, probe=probe, print_fn=printed.append)
    assert len(printed) == 1
    lines = printed[0].splitlines()
    assert lines[0].split()[0] == "layers="
    rows = lines[1:1 + len(entries)]
    values = []
    for entry, row in zip(entries, rows):
        first = row.split()[0]
        value = first[1:-1] if first.startswith('"') and first.endswith('"') else int(first)
        assert entry.path in row.split(), (entry.path, row)
        values.append(value)
    return entries, values, rows


def test_subclassed_cnn_list_layers_rows_select_their_layer(net_run):
    model, entries = net_run.model, net_run.entries
    paths = [e.path for e in entries]
    for path in ("stem", "blk", "blk/ca", "blk/cb", "blk/post", "blk/post/bn", "blk/post/relu",
                 "gap", "drop", "head"):
        assert path in paths, (path, paths)
    own = net_run.own
    loggable = [(e, v, r) for e, v, r in zip(entries, net_run.values, net_run.rows) if e.loggable]
    assert {e.path for e, _, _ in loggable} == set(own)
    for entry, value, row in loggable:
        # Output shapes from the probe, in the printed row too.
        assert tuple(entry.output_shape) == own[entry.path].shape[1:], entry.path
        assert str(tuple(entry.output_shape)) in row, row
        # The row's first column selects exactly its layer.
        chosen = layer_selection.select_layers(model, value, entries=entries)
        assert [c.path for c in chosen] == [entry.path], (value, [c.path for c in chosen])
    # "conv:k" in the second column, in call order.
    conv_column = {e.path: r.split()[1] for e, _, r in loggable if e.is_conv}
    assert conv_column == {"stem": '"conv:0"', "blk/ca": '"conv:1"', "blk/cb": '"conv:2"'}
    # Logged with all of them in one layers= list: every one, as computed by hand.
    log_dir = net_run.dirs["rows"]
    assert net_run.loggers["rows"].trace_count == compiles_per_training()
    logged = logged_layers(log_dir)
    assert set(logged) == set(own)
    for path, output in own.items():
        assert_stored(log_dir, path, output)
    assert logged["head"].map_kind == "units" and logged["blk/ca"].map_kind == "maps"


def test_subclassed_cnn_attributions_in_the_residual_block(net_run):
    model, x, y = net_run.model, net_run.x, net_run.y
    log_dir = net_run.dirs["attributions"]
    logger = net_run.loggers["attributions"]
    assert logger.trace_count == compiles_per_training()
    assert logger.attribution_trace_count == compiles_per_training()
    reader = LogReader(log_dir)
    tags = reader.tags()["train"]
    cam, saliency = tags[GRAD_CAM_TAG], tags[SALIENCY_TAG]
    assert (cam.attribution_method, cam.layer_path) == ("grad_cam", "blk/cb")
    assert saliency.attribution_method == "saliency"
    assert (cam.map_height, cam.map_width) == (SIZE, SIZE)
    assert (saliency.map_height, saliency.map_width) == (SIZE, SIZE)
    predicted = model.predict(x[:PROBE], verbose=0)
    for tag in (GRAD_CAM_TAG, SALIENCY_TAG):
        assert reader.steps("train", tag) == list(range(EPOCHS + 1)), tag
        last = reader.attribution("train", tag)
        assert np.isfinite(last.values()).all() and last.values().max() > 0, tag
        np.testing.assert_array_equal(last.field("target_class"), y[:PROBE])
        np.testing.assert_array_equal(last.field("predicted_class"), predicted.argmax(1))
        np.testing.assert_allclose(last.field("predicted_score"), predicted.max(1), rtol=1e-4, atol=1e-5)
    assert_stored(log_dir, "blk/ca", net_run.own["blk/ca"])


def test_a_log_changes_no_variable(tmp_path, net_run):
    # The trained model has BatchNorm (moving statistics), Dropout and
    # Adam's state; one more training's logs, driven through a new
    # callback's hooks (steps 0 and 1, with attributions), change none.
    model, x, y = net_run.model, net_run.x, net_run.y
    before = [to_numpy(v).copy() for v in model.variables]
    optimizer_before = [to_numpy(v).copy() for v in model.optimizer.variables]
    moving = [v for v in model.variables if "moving" in v.path]
    assert len(moving) == 2 and not np.allclose(to_numpy(moving[0]), 0)  # trained statistics
    assert int(to_numpy(model.optimizer.iterations)) > 0
    logger = ActivationLogger(str(tmp_path), probe=(x[:PROBE], y[:PROBE]),
                              layers=["blk/*", "stem"], attributions=True, verbose=0)
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    logger.on_epoch_end(0)
    logger.on_train_end()
    reader = LogReader(str(tmp_path))
    for tag in (metadata.layer_tag("blk/post/bn"), metadata.layer_tag("stem"), GRAD_CAM_TAG):
        assert reader.steps("train", tag) == [0, 1], tag
    for old, variable in zip(before, model.variables):
        np.testing.assert_array_equal(to_numpy(variable), old, err_msg=variable.path)
    for old, variable in zip(optimizer_before, model.optimizer.variables):
        np.testing.assert_array_equal(to_numpy(variable), old, err_msg=variable.path)
    assert_stored(str(tmp_path), "blk/post/bn", net_outputs(model, x[:PROBE])["blk/post/bn"],
                  steps=(0, 1))


@pytest.mark.parametrize("built", [False, True], ids=["as-written", "built-before-fit"])
def test_a_layer_the_pass_never_calls_is_an_error_at_train_begin(tmp_path, data, built):
    # As written, `Net(); compile; fit`: the model is not built at train
    # begin, yet the error comes then, before any training step.
    x, y = data
    model = Net(spare=True)
    if built:
        model(x[:1])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    finished = []
    logger = ActivationLogger(str(tmp_path), probe=(x[:PROBE], y[:PROBE]), layers=["stem", "spare"],
                              verbose=0)
    after = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: finished.append(batch))
    with pytest.raises(ValueError, match="spare"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger, after])
    assert finished == []
    assert int(to_numpy(model.optimizer.iterations)) == 0


def test_a_layer_called_twice_logs_its_first_call_and_warns(tmp_path, data, caplog):
    x, y = data
    model = Shared()
    with caplog.at_level(logging.WARNING, logger="tb_actviz"):
        fit(model, x, y, str(tmp_path), "shared")
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "tb_actviz" and "shared" in r.getMessage() and "called 2 times" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    first_call = to_numpy(model.shared(ops.convert_to_tensor(x[:PROBE])))
    assert_stored(str(tmp_path), "shared", first_call)


# A subclassed U-Net ---------------------------------------------------------


def test_subclassed_unet_with_skip_connections(tmp_path, data):
    x, y = data
    model = UNet()
    names = ["down1", "pool", "mid", "up", "cat", "up1"]
    fit(model, x, y, str(tmp_path), names, max_map_size=8)
    logged = logged_layers(str(tmp_path))
    assert set(logged) == set(names)
    own = unet_outputs(model, x[:PROBE])
    assert own["cat"].shape[1:] == (SIZE, SIZE, 12)
    for name in names:
        assert tuple(logged[name].output_shape) == own[name].shape[1:], name
        assert_stored(str(tmp_path), name, own[name], max_map_size=8)
    assert logged["cat"].downsample_factor == 2 and logged["mid"].downsample_factor == 1
    entries = tb_actviz.list_layers(model, probe=x[:PROBE], print_fn=None)
    convs = layer_selection.conv_layers(entries)
    assert [e.path for e in convs] == ["down1", "mid", "up1"]  # call order, not attribute order


# None input sizes -----------------------------------------------------------


def test_fully_convolutional_model_with_none_input_sizes(tmp_path):
    x, y = _data(size=24)
    model = fully_convolutional()
    entries, values, rows = parsed_rows(model, x[:PROBE])
    shapes = {e.path: tuple(e.output_shape) for e in entries if e.loggable}
    assert shapes["c1"] == (24, 24, 4) and shapes["c2"] == (12, 12, 6)
    selected = [v for e, v in zip(entries, values) if e.path in ("c1", "c2")]
    fit(model, x, y, str(tmp_path), selected, max_map_size=16)
    logged = logged_layers(str(tmp_path))
    assert set(logged) == {"c1", "c2"}
    assert tuple(logged["c1"].output_shape) == (24, 24, 4)
    sub = keras.Model(model.inputs, [model.get_layer("c1").output, model.get_layer("c2").output])
    c1, c2 = (to_numpy(t) for t in sub(x[:PROBE], training=False))
    assert_stored(str(tmp_path), "c1", c1, max_map_size=16)  # factor 2: 12x12
    assert_stored(str(tmp_path), "c2", c2, max_map_size=16)
    assert (logged["c1"].map_height, logged["c1"].map_width) == (12, 12)


# keras_hub backbones ---------------------------------------------------------


def test_keras_hub_resnet_backbone_in_a_classifier(tmp_path):
    x, y = _data(size=32)
    backbone = tiny_resnet()
    model = classifier_on(backbone, layers.GlobalAveragePooling2D(name="gap"))
    paths = ["resnet/conv1_conv", "resnet/stack0_block0_2_bn", "resnet/stack1_block0_out"]
    fit(model, x, y, str(tmp_path), ["conv:0", "resnet/stack0_block0_2_bn", "stack1_block0_out"],
        max_filters=16)
    logged = logged_layers(str(tmp_path))
    assert set(logged) == set(paths)
    names = [p.split("/")[1] for p in paths]
    sub = keras.Model(backbone.inputs, [backbone.get_layer(n).output for n in names])
    own = [to_numpy(t) for t in sub(x[:PROBE], training=False)]
    assert own[0].shape[1:] == (16, 16, 64)
    for path, output in zip(paths, own):
        assert tuple(logged[path].output_shape) == output.shape[1:], path
        assert_stored(str(tmp_path), path, output, max_filters=16)


def test_keras_hub_vit_backbone_block_inside_the_encoder(tmp_path):
    x, y = _data(size=32)
    backbone = tiny_vit()
    model = classifier_on(backbone, layers.GlobalAveragePooling1D(name="pool"))
    model(x[:1])
    entries, values, _ = parsed_rows(model, x[:PROBE])
    blocks = [(e, v) for e, v in zip(entries, values) if e.class_name == "ViTEncoderBlock"]
    assert [e.path.split("/")[-2:] for e, _ in blocks] == [
        ["vit_encoder", "transformer_block_1"], ["vit_encoder", "transformer_block_2"]]
    entry, value = blocks[0]
    assert entry.loggable and tuple(entry.output_shape) == (17, 16)  # class token + 16 patches
    fit(model, x, y, str(tmp_path), value)
    logged = logged_layers(str(tmp_path))
    assert set(logged) == {entry.path}
    # Its tokens follow a patch-embedding Conv2D (kernel 8 == strides,
    # "valid"): by default a token grid (docs/format.md), the class token
    # left out, the 16 patches a 4x4 map per channel.
    info = logged[entry.path]
    assert info.map_kind == "token_grid"
    assert (info.leading_tokens, info.source_height, info.source_width) == (1, 4, 4)
    assert tuple(info.output_shape) == (17, 16)
    # The block's own output: its input is the encoder's dropout (an
    # identity in inference mode) of the patch embedding.
    encoder = backbone.get_layer("vit_encoder")
    embedding = backbone.get_layer("vit_patching_and_embedding")(ops.convert_to_tensor(x[:PROBE]))
    block_input = encoder.dropout(embedding, training=False)
    own = to_numpy(encoder.encoder_layers[0](block_input, training=False))
    assert_stored(str(tmp_path), entry.path, own)
