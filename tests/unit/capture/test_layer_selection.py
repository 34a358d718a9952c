"""Unit tests of tb_actviz.layer_selection: select_layers, walk_layers, list_layers."""

import keras
import numpy as np
import pytest

import tb_actviz
from tb_actviz import metadata
from tb_actviz.capture import layer_selection
from tb_actviz.capture.layer_selection import list_layers, select_layers
from tb_actviz.capture.layer_tree import walk_layers

L = keras.layers


def small_cnn():
    # model.layers: conv_a, conv_b, pool, flat, dense
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            L.Conv2D(4, 3, name="conv_a"),
            L.Conv2D(4, 3, name="conv_b"),
            L.MaxPooling2D(name="pool"),
            L.Flatten(name="flat"),
            L.Dense(3, name="dense"),
        ]
    )


def vgg_like(name="vgg16"):
    # layers: image, block1_conv1, block1_conv2, block1_pool, block2_conv1
    inp = keras.Input((16, 16, 3), name=name + "_image")
    x = L.Conv2D(4, 3, padding="same", name="block1_conv1")(inp)
    x = L.Conv2D(4, 3, padding="same", name="block1_conv2")(x)
    x = L.MaxPooling2D(name="block1_pool")(x)
    x = L.Conv2D(8, 3, padding="same", name="block2_conv1")(x)
    return keras.Model(inp, x, name=name)


def classifier():
    # layers: input, vgg16, gap, head
    inp = keras.Input((16, 16, 3), name="input")
    x = vgg_like()(inp)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(2, name="head")(x)
    return keras.Model(inp, out, name="classifier")


def two_deep():
    # outer: input, mid, out_dense ; mid: mid_in, inner, mid_gap ; inner: inner_in, deep_conv, deep_conv2
    i = keras.Input((8, 8, 1), name="inner_in")
    x = L.Conv2D(3, 3, padding="same", name="deep_conv")(i)
    x = L.Conv2D(5, 3, padding="same", name="deep_conv2")(x)
    inner = keras.Model(i, x, name="inner")
    m = keras.Input((8, 8, 1), name="mid_in")
    mid = keras.Model(m, L.GlobalAveragePooling2D(name="mid_gap")(inner(m)), name="mid")
    o = keras.Input((8, 8, 1), name="input")
    return keras.Model(o, L.Dense(1, name="out_dense")(mid(o)), name="outer")


def paths(entries):
    return [e.path for e in entries]


# Names, indices, globs ----------------------------------------------------------


def test_select_by_name():
    assert paths(select_layers(small_cnn(), "conv_b")) == ["conv_b"]
    assert paths(select_layers(small_cnn(), ["dense", "conv_a"])) == ["dense", "conv_a"]


@pytest.mark.parametrize(
    "spec, expected",
    [(0, "conv_a"), (1, "conv_b"), (-1, "dense"), (-2, "flat"), (np.int64(2), "pool")],
)
def test_select_by_top_level_index(spec, expected):
    assert paths(select_layers(small_cnn(), spec)) == [expected]


def test_seed_recipe_indices_first_and_second_to_last():
    # The seed recipe: layers=[1, -2] on model.layers.
    model = small_cnn()
    chosen = select_layers(model, [1, -2])
    assert [e.layer for e in chosen] == [model.layers[1], model.layers[-2]]


def test_indices_count_functional_input_layer_like_model_layers():
    model = classifier()
    assert [e.layer for e in select_layers(model, [-1, -2])] == [model.layers[-1], model.layers[-2]]


def test_glob_pattern():
    assert paths(select_layers(small_cnn(), "conv*")) == ["conv_a", "conv_b"]


def test_glob_pattern_matches_inside_nested_models():
    assert paths(select_layers(classifier(), "block*_conv*")) == [
        "vgg16/block1_conv1",
        "vgg16/block1_conv2",
        "vgg16/block2_conv1",
    ]


def test_glob_with_path():
    assert paths(select_layers(classifier(), "vgg16/block1_*")) == [
        "vgg16/block1_conv1",
        "vgg16/block1_conv2",
        "vgg16/block1_pool",
    ]


def test_duplicates_are_selected_once():
    assert paths(select_layers(small_cnn(), ["conv_a", 0, "conv*"])) == ["conv_a", "conv_b"]


# Nested models ------------------------------------------------------------------


def test_nested_path():
    chosen = select_layers(classifier(), "vgg16/block1_conv1")
    assert paths(chosen) == ["vgg16/block1_conv1"]
    assert chosen[0].output_shape == (16, 16, 4)
    assert chosen[0].class_name == "Conv2D"


def test_unique_bare_name_of_nested_layer():
    assert paths(select_layers(classifier(), "block2_conv1")) == ["vgg16/block2_conv1"]


def test_nested_negative_index():
    model = classifier()
    base = model.get_layer("vgg16")
    assert [e.layer for e in select_layers(model, "vgg16/-2")] == [base.layers[-2]]
    assert paths(select_layers(model, ["vgg16/1", "vgg16/-1"])) == [
        "vgg16/block1_conv1",
        "vgg16/block2_conv1",
    ]


def test_nested_two_deep():
    model = two_deep()
    assert paths(select_layers(model, "mid/inner/deep_conv")) == ["mid/inner/deep_conv"]
    assert paths(select_layers(model, "mid/inner/-1")) == ["mid/inner/deep_conv2"]
    assert paths(select_layers(model, "deep*")) == ["mid/inner/deep_conv", "mid/inner/deep_conv2"]
    assert select_layers(model, "mid/inner/deep_conv2")[0].output_shape == (8, 8, 5)


def test_default_selection_is_conv_layers_only():
    chosen = select_layers(classifier())
    assert paths(chosen) == ["vgg16/block1_conv1", "vgg16/block1_conv2", "vgg16/block2_conv1"]


def test_default_selection_capped_and_spread_first_to_last():
    layers = [keras.Input((12, 12, 1))]
    layers += [L.Conv2D(1, 1, name="c%02d" % i) for i in range(20)]
    layers += [L.Flatten(), L.Dense(2, name="d")]
    model = keras.Sequential(layers)
    chosen = paths(select_layers(model, max_layers=5))
    assert len(chosen) == 5
    assert chosen[0] == "c00" and chosen[-1] == "c19"
    assert chosen == sorted(chosen) and len(set(chosen)) == 5
    # Spread: no two picks are adjacent layers out of 20.
    numbers = [int(p[1:]) for p in chosen]
    assert min(np.diff(numbers)) >= 4
    assert len(select_layers(model)) == layer_selection.DEFAULT_MAX_LAYERS


def test_default_selection_without_conv_layers_is_an_error():
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d")])
    with pytest.raises(ValueError, match="no convolution layer"):
        select_layers(model)


# Errors ----------------------------------------------------------------------------


def test_unknown_name_lists_layers_and_closest_match():
    with pytest.raises(ValueError) as info:
        select_layers(small_cnn(), "conv_bb")
    message = str(info.value)
    assert "conv_bb" in message
    assert "Closest match: 'conv_b'" in message
    # The listing: every layer with its index, path and output shape.
    for index, path, shape in [
        (0, "conv_a", "(14, 14, 4)"),
        (1, "conv_b", "(12, 12, 4)"),
        (2, "pool", "(6, 6, 4)"),
        (3, "flat", "(144,)"),
        (4, "dense", "(3,)"),
    ]:
        row = next(line for line in message.splitlines() if " %s " % path in line + " ")
        assert row.split()[0] == str(index), row
        assert shape in row, row


def test_unknown_nested_path_names_closest_match():
    with pytest.raises(ValueError) as info:
        select_layers(classifier(), "vgg16/block2_conv")
    message = str(info.value)
    assert "Closest match: 'vgg16/block2_conv1'" in message
    assert "vgg16/block1_pool" in message and "(8, 8, 4)" in message


@pytest.mark.parametrize("spec", [5, -6, 99, "vgg16/9", "vgg16/-6"])
def test_index_out_of_range(spec):
    model = small_cnn() if isinstance(spec, int) else classifier()
    with pytest.raises(ValueError, match="out of range"):
        select_layers(model, spec)


@pytest.mark.parametrize("spec", [1, "vgg16"])
def test_selecting_a_nested_model_itself_is_an_error(spec):
    with pytest.raises(ValueError, match="nested model") as info:
        select_layers(classifier(), spec)
    assert "vgg16/block1_conv1" in str(info.value)  # points inside it


def test_ambiguous_bare_name():
    inp = keras.Input((16, 16, 3))
    a, b = vgg_like("a"), vgg_like("b")
    model = keras.Model(inp, L.Add()([a(inp), b(inp)]))
    with pytest.raises(ValueError, match="several layers") as info:
        select_layers(model, "block1_conv1")
    assert "a/block1_conv1" in str(info.value) and "b/block1_conv1" in str(info.value)
    assert paths(select_layers(model, "b/block1_conv1")) == ["b/block1_conv1"]


@pytest.mark.parametrize("spec", [1.5, True, b"conv_a", {"conv_a"}])
def test_wrong_type(spec):
    with pytest.raises(TypeError, match="layers="):
        select_layers(small_cnn(), [spec])


# Layer objects (hostile review [12], finding 2) ---------------------------------


def test_a_layer_object_selects_the_entry_of_its_path():
    model = classifier()
    base = model.get_layer("vgg16")
    chosen = select_layers(model, [base.get_layer("block2_conv1"), "vgg16/1", model.get_layer("gap"), 3])
    assert paths(chosen) == ["vgg16/block2_conv1", "vgg16/block1_conv1", "gap", "head"]
    by_path = {e.path: e for e in walk_layers(model)}
    assert chosen[0] == by_path["vgg16/block2_conv1"]  # the very entry its path selects
    assert paths(select_layers(model, base.get_layer("block1_conv2"))) == ["vgg16/block1_conv2"]
    deep = two_deep()
    inner = deep.get_layer("mid").get_layer("inner").get_layer("deep_conv2")
    assert paths(select_layers(deep, [inner])) == ["mid/inner/deep_conv2"]


def test_a_layer_object_not_in_the_model_is_named():
    model, other = small_cnn(), small_cnn()
    with pytest.raises(ValueError, match=r"layer 'conv_b' \(Conv2D\) is not a layer of this model") as info:
        select_layers(model, ["conv_a", other.get_layer("conv_b")])
    assert "Closest match: 'conv_b'" in str(info.value)
    with pytest.raises(ValueError, match="kernels=: layer 'free' .*not a layer of this model"):
        select_layers(model, L.Conv2D(2, 3, name="free"), argument="kernels")


def test_a_nested_model_object_points_inside_it():
    model = classifier()
    with pytest.raises(ValueError, match="nested model") as info:
        select_layers(model, [model.get_layer("vgg16")])
    assert "vgg16/block1_conv1" in str(info.value)


def _fit_with(tmp_path, **kwargs):
    from tb_actviz import ActivationLogger
    from tb_actviz.reader import LogReader

    keras.utils.set_random_seed(0)
    model = classifier()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    logger = ActivationLogger(str(tmp_path), probe=(x, np.array([0, 1, 0, 1])), verbose=0,
                              **{k: v(model) for k, v in kwargs.items()})
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, batch_size=2, verbose=0, callbacks=[logger])
    return LogReader(str(tmp_path)).tags()["train"]


def test_fit_logs_layers_kernels_and_grad_cam_chosen_as_layer_objects(tmp_path):
    vgg = lambda model: model.get_layer("vgg16")  # noqa: E731
    tags = _fit_with(
        tmp_path,
        layers=lambda m: [vgg(m).get_layer("block1_conv1"), "gap"],
        kernels=lambda m: [vgg(m).get_layer("block1_conv1")],
        attributions=lambda m: tb_actviz.Attributions(layer=vgg(m).get_layer("block1_conv2")),
    )
    assert {md.layer_path for md in tags.values() if md.kind == metadata.Kind.LAYER} == {
        "vgg16/block1_conv1", "gap"}
    assert "actviz/kernels/vgg16/block1_conv1" in tags
    cam = [md for md in tags.values() if md.kind == metadata.Kind.ATTRIBUTION and md.layer_path]
    assert [md.layer_path for md in cam] == ["vgg16/block1_conv2"]


def test_attributions_given_a_layer_object_select_it_for_grad_cam():
    from tb_actviz.capture import attribution

    model = small_cnn()
    layer = model.layers[0]
    assert attribution.parse(layer).layer is layer
    entry = attribution.select_cam_layer(model, attribution.parse(layer).layer)
    assert entry.layer is layer


def test_empty_list_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        select_layers(small_cnn(), [])


def test_non_float_output_is_not_loggable():
    inp = keras.Input((4,))
    out = L.Discretization(bin_boundaries=[0.0], name="mask")(inp)
    model = keras.Model(inp, out)
    with pytest.raises(ValueError, match="floating point"):
        select_layers(model, "mask")


# list_layers -----------------------------------------------------------------------


def test_list_layers_rows_expand_nested_models():
    model = classifier()
    printed = []
    entries = list_layers(model, print_fn=printed.append)
    rows = [(e.selector, e.path, e.class_name, e.output_shape, e.loggable) for e in entries]
    assert rows == [
        ("0", "input", "InputLayer", (16, 16, 3), False),
        ("1", "vgg16", "Functional", None, False),
        ("vgg16/0", "vgg16/vgg16_image", "InputLayer", (16, 16, 3), False),
        ("vgg16/1", "vgg16/block1_conv1", "Conv2D", (16, 16, 4), True),
        ("vgg16/2", "vgg16/block1_conv2", "Conv2D", (16, 16, 4), True),
        ("vgg16/3", "vgg16/block1_pool", "MaxPooling2D", (8, 8, 4), True),
        ("vgg16/4", "vgg16/block2_conv1", "Conv2D", (8, 8, 8), True),
        ("2", "gap", "GlobalAveragePooling2D", (8,), True),
        ("3", "head", "Dense", (2,), True),
    ]
    (table,) = printed
    lines = table.splitlines()
    assert lines[0].split() == ["layers=", "or", "path", "class", "output", "shape", "loggable", "default"]
    assert len(lines) == 1 + len(entries) + 1  # header, rows, the default's note
    assert "no (a nested model" in lines[2]
    assert lines[4].startswith('"vgg16/1"') and '"conv:0"' in lines[4] and lines[4].rstrip().endswith("*")
    assert lines[8].startswith("2 ") and "conv:" not in lines[8] and not lines[8].rstrip().endswith("*")
    assert lines[-1] == "* default: every convolution layer"
    assert str(entries) == table


def test_every_row_of_list_layers_selects_exactly_that_row():
    # The first column, typed as shown, is a layers= value for that row (and "conv:k" too).
    import ast

    model = classifier()
    entries = list_layers(model, print_fn=None)
    for line, entry in zip(str(entries).splitlines()[1:], entries):
        first, second = line.split()[:2]
        if not entry.loggable:
            continue
        assert [e.layer for e in select_layers(model, ast.literal_eval(first))] == [entry.layer], line
        if second.startswith('"conv:'):
            assert [e.layer for e in select_layers(model, ast.literal_eval(second))] == [entry.layer], line


def test_conv_selectors_count_over_the_whole_model():
    model = classifier()
    assert [e.path for e in select_layers(model, ["conv:0", "conv:-1"])] == [
        "vgg16/block1_conv1", "vgg16/block2_conv1"]
    assert [e.path for e in select_layers(model, "conv:1")] == ["vgg16/block1_conv2"]
    with pytest.raises(ValueError, match=r"'conv:3': the model has 3 convolution layers \(conv:0 to conv:2"):
        select_layers(model, "conv:3")


def test_the_returned_table_echoes_in_one_line():
    entries = list_layers(classifier(), print_fn=None)
    assert repr(entries) == "<LayerTable: 9 layers, 6 loggable; print(table) shows it>"
    assert entries[3].path == "vgg16/block1_conv1"  # still a list of LayerEntry


def test_the_default_mark_says_what_is_left_out():
    model = classifier()
    entries = list_layers(model, print_fn=None)
    from tb_actviz.capture.layer_selection import format_layer_table

    table = format_layer_table(entries, max_layers=2)
    assert table.splitlines()[-1] == "* default: 2 of the 3 convolution layers, spread first to last (max_layers=2)"
    marked = [line.split()[2] for line in table.splitlines()[1:-1] if line.rstrip().endswith("*")]
    assert marked == ["vgg16/block1_conv1", "vgg16/block2_conv1"]


def test_list_layers_prints_by_default(capsys):
    entries = tb_actviz.list_layers(small_cnn())
    out = capsys.readouterr().out
    assert len(entries) == 5
    for name in ["conv_a", "conv_b", "pool", "flat", "dense"]:
        assert name in out


def test_list_layers_print_fn_none_prints_nothing(capsys):
    list_layers(small_cnn(), print_fn=None)
    assert capsys.readouterr().out == ""


def test_walk_layers_two_deep_paths():
    assert paths(walk_layers(two_deep())) == [
        "input",
        "mid",
        "mid/mid_in",
        "mid/inner",
        "mid/inner/inner_in",
        "mid/inner/deep_conv",
        "mid/inner/deep_conv2",
        "mid/mid_gap",
        "out_dense",
    ]
