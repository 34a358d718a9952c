"""tb_actviz.capture.layer_calls: the first outputs of the chosen layers
(nested models, custom layers, subclassed models) from one forward pass that
stops after the last of them and leaves no patched call behind."""

import keras
import numpy as np
import pytest

from keras_helpers import to_numpy
from tb_actviz.capture import layer_tree

L = keras.layers


def nested_classifier():
    inp = keras.Input((12, 12, 3), name="vgg16_image")
    x = L.Conv2D(4, 3, padding="same", name="block1_conv1")(inp)
    x = L.MaxPooling2D(name="block1_pool")(x)
    x = L.Conv2D(6, 3, padding="same", name="block2_conv1")(x)
    base = keras.Model(inp, x, name="vgg16")
    i2 = keras.Input((12, 12, 3), name="inner_in")
    inner = keras.Model(i2, L.Conv2D(2, 1, name="deep_conv")(i2), name="inner")
    i3 = keras.Input((12, 12, 3), name="mid_in")
    mid = keras.Model(i3, inner(i3), name="mid")
    outer_in = keras.Input((12, 12, 3), name="input")
    scaled = L.Rescaling(2.0, name="scale")(outer_in)  # nested models are fed from inside the graph
    gap = L.GlobalAveragePooling2D(name="gap")(base(scaled))
    out = L.Concatenate()([gap, L.Flatten()(mid(scaled))])
    return keras.Model(outer_in, out)


def _first_outputs(model, paths, x):
    from tb_actviz.capture import layer_calls

    entries = {e.path: e for e in layer_tree.walk_layers(model)}
    return [to_numpy(o) for o in layer_calls.first_outputs(model, x, [entries[p].layer for p in paths])]


def test_first_outputs_of_nested_paths_in_one_pass():
    model = nested_classifier()
    x = np.random.default_rng(1).normal(size=(2, 12, 12, 3)).astype("float32")
    paths = ["vgg16/block1_conv1", "gap", "vgg16/block2_conv1", "mid/inner/deep_conv"]
    outputs = _first_outputs(model, paths, x)
    base = model.get_layer("vgg16")
    scaled = 2.0 * x
    expected = [
        keras.Model(base.inputs, base.get_layer("block1_conv1").output)(scaled),
        keras.Model(model.inputs, model.get_layer("gap").output)(x),
        base(scaled),
        model.get_layer("mid").get_layer("inner")(scaled),
    ]
    for path, got, want in zip(paths, outputs, expected):
        np.testing.assert_allclose(got, to_numpy(want), rtol=1e-5, atol=1e-5, err_msg=path)


class _Block(L.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ca = L.Conv2D(3, 3, padding="same", name="ca")
        self.cb = L.Conv2D(3, 1, name="cb")

    def call(self, x):
        return x + self.cb(keras.ops.relu(self.ca(x)))


class _Sub(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blk = _Block(name="blk")
        self.after = L.Conv2D(2, 1, name="after")
        self.calls_after = 0

    def call(self, x):
        y = self.blk(x)
        self.calls_after += 1
        return self.after(y)


def test_first_outputs_of_a_subclassed_model_and_a_custom_layer():
    model = _Sub(name="net")
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype("float32")
    model(x)
    ca, blk = _first_outputs(model, ["blk/ca", "blk"], x)
    np.testing.assert_allclose(ca, to_numpy(model.blk.ca(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blk, to_numpy(model.blk(x)), rtol=1e-5, atol=1e-6)


def test_first_outputs_stop_after_the_last_layer_and_leave_no_call_behind():
    from tb_actviz.capture import layer_calls

    model = _Sub(name="net")
    x = np.zeros((1, 6, 6, 3), "float32")
    model(x)
    before = model.calls_after
    layer_calls.first_outputs(model, x, [model.blk.ca, model.blk])
    assert model.calls_after == before  # stopped once blk returned
    assert all("call" not in l.__dict__ for l in layer_tree.all_layers(model))


def test_an_error_in_the_pass_leaves_no_call_behind():
    from tb_actviz.capture import layer_calls

    model = _Sub(name="net")
    model(np.zeros((1, 6, 6, 3), "float32"))
    with pytest.raises(Exception):
        layer_calls.first_outputs(model, np.zeros((1, 6, 6, 5), "float32"), [model.blk.cb])
    assert all("call" not in l.__dict__ for l in layer_tree.all_layers(model))
