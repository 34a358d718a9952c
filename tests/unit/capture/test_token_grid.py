"""tb_actviz.capture.token_grid (issue [13], point 5): which (batch, tokens,
channels) outputs are laid out as a patch grid, and the log pipeline's maps of
such a layer."""

import keras
import numpy as np
import pytest

from keras_helpers import to_numpy
from log_parsing import area_average
from tb_actviz.capture import backends, extractor, layer_selection, layer_tree

L = keras.layers


class ClassToken(L.Layer):
    """Prepends one learned token: (batch, T, C) -> (batch, 1 + T, C)."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal",
                                     name="token")

    def call(self, x):
        return keras.ops.concatenate([keras.ops.zeros_like(x[:, :1]) + self.token, x], axis=1)


def token_model(patch_strides=3, size=(12, 12)):
    """Conv2D patch embedding (kernel 3, strides `patch_strides`) -> tokens
    (`patches`, no class token) -> `with_cls` (1 + grid) -> `dense` ->
    `conv1d` (a 'valid' Conv1D: 2 tokens fewer, a sequence)."""
    inp = keras.Input(size + (3,))
    x = L.Conv2D(8, 3, strides=patch_strides, name="embed")(inp)
    grid = x.shape[1] * x.shape[2]
    x = L.Reshape((grid, 8), name="patches")(x)
    x = ClassToken(name="with_cls")(x)
    x = L.Dense(6, name="dense")(x)
    seq = L.Conv1D(4, 3, name="conv1d")(x)
    return keras.Model(inp, L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalAveragePooling1D()(seq)]))


def token_layouts(model, spec, paths, x=None):
    """{path: (leading, height, width) or None} as the callback decides it."""
    from tb_actviz.capture import token_grid

    x = np.zeros((1,) + tuple(model.inputs[0].shape[1:]), "float32") if x is None else x
    entries = layer_tree.walk_layers(model, x)
    logged = layer_selection.select_layers(model, paths, entries=entries)
    parsed = token_grid.parse(spec, (keras.layers.Layer,))
    resolve = lambda key: layer_selection._resolve_one(entries, key, "token_grid")  # noqa: E731
    return {e.path: token_grid.layout(parsed, e, e.channels_first, entries, logged, resolve)
            for e in logged}


def test_token_grid_automatic_only_where_a_patch_embedding_says_so():
    paths = ["patches", "with_cls", "dense", "conv1d"]
    # Patches of 3 x 3 at strides 3: a 4 x 4 grid of 16 tokens, 17 with the class token.
    assert token_layouts(token_model(), None, paths) == {
        "patches": (0, 4, 4), "with_cls": (1, 4, 4), "dense": (1, 4, 4), "conv1d": None}
    # A 12 x 18 image: a 4 x 6 grid, 25 tokens with the class token (not a 5 x 5 grid).
    assert token_layouts(token_model(size=(12, 18)), None, paths) == {
        "patches": (0, 4, 6), "with_cls": (1, 4, 6), "dense": (1, 4, 6), "conv1d": None}
    # Strides 1: no patch embedding (10 x 10 = 100 tokens, a square): sequences all.
    assert set(token_layouts(token_model(patch_strides=1), None, paths).values()) == {None}
    assert set(token_layouts(token_model(), False, paths).values()) == {None}


def test_token_grid_forced_and_per_layer():
    from tb_actviz import TokenGrid

    no_patches = token_model(patch_strides=1)  # 100 tokens, 101 with the class token, 99 after conv1d
    assert token_layouts(no_patches, True, ["patches", "with_cls"]) == {
        "patches": (0, 10, 10), "with_cls": (1, 10, 10)}
    assert token_layouts(no_patches, TokenGrid(leading=1), ["with_cls", "dense"]) == {
        "with_cls": (1, 10, 10), "dense": (1, 10, 10)}
    assert token_layouts(no_patches, TokenGrid(5, 20), ["with_cls"]) == {"with_cls": (1, 5, 20)}
    assert token_layouts(no_patches, {"with_cls": TokenGrid(leading=1), "conv1d": False},
                         ["patches", "with_cls", "conv1d"]) == {
        "patches": None, "with_cls": (1, 10, 10), "conv1d": None}
    # Inferred grids are the patch embedding's first: 25 tokens are 1 + 4 x 6, not 5 x 5.
    assert token_layouts(token_model(size=(12, 18)), {"d*": True}, ["dense", "conv1d"]) == {
        "dense": (1, 4, 6), "conv1d": None}
    assert token_layouts(token_model(size=(12, 18)), {"with_cls": TokenGrid(leading=0)}, ["with_cls"]) == {
        "with_cls": (0, 5, 5)}


def test_token_grid_errors_name_what_would_fit():
    from tb_actviz import TokenGrid
    from tb_actviz.capture import token_grid

    model = token_model(patch_strides=1)
    with pytest.raises(ValueError, match=r"'with_cls' has 101 tokens.*TokenGrid\(height=10, width=10, leading=1\)"):
        token_layouts(model, TokenGrid(leading=0), ["with_cls"])
    with pytest.raises(ValueError, match=r"has 101 tokens.*TokenGrid\(height=10, width=10, leading=1\)"):
        token_layouts(model, TokenGrid(9, 9, leading=3), ["with_cls"])
    with pytest.raises(ValueError, match=r"'conv1d' has 99 tokens.*no grid of 2 or more tokens fits"):
        token_layouts(model, True, ["conv1d"])
    with pytest.raises(ValueError, match="which layers= does not log"):
        token_layouts(model, {"dense": TokenGrid(leading=1)}, ["with_cls"])
    with pytest.raises(ValueError, match=r"not \(tokens, channels\)"):
        token_layouts(model, {"embed": TokenGrid()}, ["embed", "with_cls"])
    with pytest.raises(ValueError, match="no layer matches"):
        token_layouts(model, {"nope": TokenGrid()}, ["with_cls"])
    with pytest.raises(ValueError, match="height and width together"):
        TokenGrid(height=4)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        TokenGrid(1, 1)
    with pytest.raises(ValueError, match="leading"):
        TokenGrid(leading=-1)
    with pytest.raises(TypeError, match="token_grid= must be"):
        token_grid.parse((1, 4, 4))
    with pytest.raises(TypeError, match="dict values"):
        token_grid.parse({"with_cls": (1, 4, 4)})


def test_log_pipeline_token_grid_is_the_tokens_reshaped():
    model = token_model()
    x = np.random.default_rng(3).normal(size=(3, 12, 12, 3)).astype("float32")
    entries = layer_tree.walk_layers(model, x)
    chosen = layer_selection.select_layers(model, ["with_cls", "dense"], entries=entries)
    logged = [extractor.LoggedLayer.of(e, 5, 2, entries=entries, logged=chosen) for e in chosen]
    assert [(l.geometry.map_kind, l.geometry.leading_tokens, l.geometry.factor) for l in logged] == [
        ("token_grid", 1, 2), ("token_grid", 1, 2)]
    compiled = backends.compile_pipeline(extractor.LogPipeline(model, logged))
    for l, maps in zip(logged, compiled(keras.ops.convert_to_tensor(x))):
        tokens = to_numpy(keras.Model(model.inputs, l.entry.layer.output)(x))
        grid = tokens[:, 1:].reshape(3, 4, 4, -1)[..., :5]  # row-major: token 1 + 4 * y + x
        np.testing.assert_allclose(np.asarray(maps), area_average(grid, 2).transpose(0, 3, 1, 2),
                                   rtol=1e-5, atol=1e-5)
