"""Attributions on the backend in use: Grad-CAM and saliency against an
independent numpy computation, inference mode, the stored tags, where a model
trained on left-half data looks, and the errors at train begin; mixed
precision, a softmax inside a nested model, what counts as a classifier's
output, and a model that outputs NaN."""

import keras
import numpy as np
import pytest

from tb_actviz import ActivationLogger, Attributions, metadata
from tb_actviz.capture import attribution, backends
from tb_actviz.reader import LogReader

L = keras.layers
GRAD_CAM_TAG = metadata.attribution_tag("grad_cam")
SALIENCY_TAG = metadata.attribution_tag("saliency")


def values(variable):
    return np.array(keras.ops.convert_to_numpy(variable))


# An independent computation: the forward and backward pass of
# conv -> relu -> conv -> relu -> global average -> dense, in numpy.

def conv_valid(x, kernel, bias):
    kh, kw, _, _ = kernel.shape
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((x.shape[0], h, w, kernel.shape[3]))
    for a in range(kh):
        for b in range(kw):
            out += np.einsum("nhwi,io->nhwo", x[:, a:a + h, b:b + w], kernel[a, b])
    return out + bias


def conv_valid_input_gradient(grad_out, kernel, input_shape):
    kh, kw, _, _ = kernel.shape
    h, w = grad_out.shape[1:3]
    grad_in = np.zeros(input_shape)
    for a in range(kh):
        for b in range(kw):
            grad_in[:, a:a + h, b:b + w] += np.einsum("nhwo,io->nhwi", grad_out, kernel[a, b])
    return grad_in


def numpy_attributions(x, weights, targets=None):
    """(grad_cam [N, h, w] of the second conv, saliency [N, H, W], logits, targets)."""
    (k1, b1), (k2, b2), (dense_w, dense_b) = weights
    x = x.astype(np.float64)
    pre1 = conv_valid(x, k1, b1)
    act1 = np.maximum(pre1, 0)
    pre2 = conv_valid(act1, k2, b2)
    act2 = np.maximum(pre2, 0)
    logits = act2.mean(axis=(1, 2)) @ dense_w + dense_b
    if targets is None:
        targets = logits.argmax(axis=1)
    # d logit_t / d act2 is the same at every position: w[:, t] / (h * w).
    grad_act2 = np.broadcast_to(
        (dense_w[:, targets].T / (act2.shape[1] * act2.shape[2]))[:, None, None, :], act2.shape)
    cam = np.maximum((act2 * grad_act2.mean(axis=(1, 2), keepdims=True)).sum(axis=-1), 0)
    grad_act1 = conv_valid_input_gradient(grad_act2 * (pre2 > 0), k2, act1.shape)
    grad_x = conv_valid_input_gradient(grad_act1 * (pre1 > 0), k1, x.shape)
    return cam, np.abs(grad_x).max(axis=-1), logits, targets


def small_classifier(nested=False, classes=3, extras=False):
    """conv -> conv -> global average -> dense(softmax); `nested`: the convs in
    a nested functional model; `extras`: BatchNormalization and Dropout
    between them (an identity in inference mode before any training)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 10, 3))
    features = [L.Conv2D(4, 3, activation="relu", name="c1")]
    if extras:
        features += [L.BatchNormalization(name="bn"), L.Dropout(0.5, name="drop")]
    features += [L.Conv2D(5, 3, activation="relu", name="c2")]
    if nested:
        base_input = keras.Input((12, 10, 3))
        x = base_input
        for layer in features:
            x = layer(x)
        base = keras.Model(base_input, x, name="base")
        x = base(inputs)
    else:
        x = inputs
        for layer in features:
            x = layer(x)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


class _Features(L.Layer):
    """The two convolutions inside a custom layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = L.Conv2D(4, 3, activation="relu", name="c1")
        self.c2 = L.Conv2D(5, 3, activation="relu", name="c2")

    def call(self, x):
        return self.c2(self.c1(x))


class _SubclassedClassifier(keras.Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.blk = _Features(name="blk")
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(classes, activation="softmax", name="head")

    def call(self, x):
        return self.head(self.pool(self.blk(x)))


def subclassed_classifier(classes=3):
    """`small_classifier` as a subclassed model, its convolutions inside a
    custom layer (paths blk/c1, blk/c2)."""
    keras.utils.set_random_seed(3)
    model = _SubclassedClassifier(classes, name="net")
    model(np.zeros((1, 12, 10, 3), "float32"))
    return model


def weights_of(model):
    if isinstance(model, _SubclassedClassifier):
        return [[values(v) for v in layer.weights] for layer in (model.blk.c1, model.blk.c2, model.head)]
    layer = model.get_layer("base").get_layer if "base" in [l.name for l in model.layers] else model.get_layer
    return [[values(v) for v in layer(name).weights] for name in ("c1", "c2")] + [
        [values(v) for v in model.get_layer("head").weights]]


def probe_images(count=4, seed=0):
    return np.random.default_rng(seed).random((count, 12, 10, 3)).astype("float32")


def run_pipeline(model, probe, class_ids=None, target=None, layer=None):
    pipeline = attribution.AttributionPipeline(
        model, attribution.select_cam_layer(model, layer), len(probe), class_ids, target, 32)
    compiled = backends.compile_pipeline(pipeline)
    cam, saliency, predictions = compiled(keras.ops.convert_to_tensor(probe))
    return pipeline, compiled, cam[:, 0], saliency[:, 0], predictions


@pytest.mark.parametrize("kind", ["flat", "nested", "subclassed"])
@pytest.mark.parametrize("labelled", [False, True], ids=["predicted", "labels"])
def test_grad_cam_and_saliency_match_numpy(kind, labelled):
    model = subclassed_classifier() if kind == "subclassed" else small_classifier(nested=kind == "nested")
    probe = probe_images()
    class_ids = (2, 0, 1, 2) if labelled else None
    pipeline, compiled, cam, saliency, predictions = run_pipeline(model, probe, class_ids)
    expected_cam, expected_saliency, logits, targets = numpy_attributions(
        probe, weights_of(model), None if class_ids is None else np.array(class_ids))
    assert pipeline.cam_entry.path == {"flat": "c2", "nested": "base/c2", "subclassed": "blk/c2"}[kind]
    assert pipeline.target_source == ("label" if labelled else "predicted")
    assert cam.shape == (4, 8, 6) and saliency.shape == (4, 12, 10)
    assert expected_cam.max() > 0 and expected_saliency.max() > 0
    np.testing.assert_allclose(cam, expected_cam, rtol=1e-4, atol=1e-6 * expected_cam.max())
    np.testing.assert_allclose(saliency, expected_saliency, rtol=1e-4, atol=1e-6 * expected_saliency.max())
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    predicted = logits.argmax(1)
    np.testing.assert_array_equal(predictions[:, 0], predicted)
    np.testing.assert_allclose(predictions[:, 1], probabilities[np.arange(4), predicted], rtol=1e-5)
    np.testing.assert_array_equal(predictions[:, 2], targets)
    np.testing.assert_allclose(predictions[:, 3], probabilities[np.arange(4), targets], rtol=1e-5)
    # A second call reuses the compiled function.
    compiled(keras.ops.convert_to_tensor(probe))
    assert compiled.compile_count == (0 if keras.backend.backend() == "torch" else 1)


def test_a_fixed_target_class_and_a_named_layer():
    model = small_classifier()
    probe = probe_images()
    _, _, cam, _, predictions = run_pipeline(model, probe, target=1, layer="conv:0")
    np.testing.assert_array_equal(predictions[:, 2], [1, 1, 1, 1])
    assert cam.shape == (4, 10, 8)  # c1's maps
    assert np.isfinite(cam).all()


def test_a_log_runs_in_inference_mode_and_changes_nothing():
    model = small_classifier(extras=True)
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    x = probe_images(16, seed=4)
    model.fit(x, np.arange(16) % 3, epochs=1, verbose=0)  # moving statistics and optimizer state
    before = [values(v) for v in model.variables]
    optimizer_before = [values(v) for v in model.optimizer.variables]
    _, compiled, cam, saliency, _ = run_pipeline(model, x[:4])
    again = compiled(keras.ops.convert_to_tensor(x[:4]))
    # Dropout is off: the same probe gives the same maps.
    np.testing.assert_array_equal(again[0][:, 0], cam)
    np.testing.assert_array_equal(again[1][:, 0], saliency)
    for old, variable in zip(before, model.variables):
        np.testing.assert_array_equal(values(variable), old, err_msg=variable.path)
    for old, variable in zip(optimizer_before, model.optimizer.variables):
        np.testing.assert_array_equal(values(variable), old, err_msg=variable.path)
    # And what it gives is the inference-mode model's: predictions as predict's.
    predicted = model.predict(x[:4], verbose=0).argmax(1)
    np.testing.assert_array_equal(again[2][:, 0], predicted)


def test_a_sequential_model_and_a_single_sigmoid_unit():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        keras.Input((12, 10, 3)), L.Conv2D(4, 3, activation="relu"), L.Conv2D(3, 3, activation="relu"),
        L.Flatten(), L.Dense(1, activation="sigmoid"),
    ])
    probe = probe_images()
    pipeline, _, cam, saliency, predictions = run_pipeline(model, probe, class_ids=(0, 1, 1, 0))
    assert pipeline.final_activation == "sigmoid" and pipeline.num_classes == 1
    probability = model.predict(probe, verbose=0)[:, 0]
    predicted = (probability > 0.5).astype(int)
    np.testing.assert_array_equal(predictions[:, 0], predicted)
    np.testing.assert_allclose(predictions[:, 1], np.where(predicted, probability, 1 - probability), rtol=1e-5)
    np.testing.assert_allclose(predictions[:, 3], np.where([0, 1, 1, 0], probability, 1 - probability), rtol=1e-5)
    assert saliency.max() > 0 and np.isfinite(cam).all()


def half_striped_images(count, rng, size=16):
    """Images whose class is the left half's stripes (0: horizontal, 1:
    vertical); the right half has stripes of a random orientation."""
    y = rng.integers(0, 2, count)
    distractor = rng.integers(0, 2, count)
    horizontal = np.broadcast_to(np.arange(size)[:, None] % 4 < 2, (size, size))
    vertical = horizontal.T
    x = np.empty((count, size, size, 1), np.float32)
    for i in range(count):
        x[i, :, : size // 2, 0] = (vertical if y[i] else horizontal)[:, : size // 2]
        x[i, :, size // 2:, 0] = (vertical if distractor[i] else horizontal)[:, size // 2:]
    x += rng.normal(0, 0.3, x.shape).astype(np.float32)
    return x, y


def test_a_model_that_reads_the_left_half_looks_there(tmp_path):
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    x, y = half_striped_images(512, rng)
    probe = half_striped_images(8, np.random.default_rng(1))
    model = keras.Sequential([
        keras.Input((16, 16, 1)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(8, 3, activation="relu"), L.Flatten(), L.Dense(2, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    logger = ActivationLogger(str(tmp_path), probe, layers="conv:0", attributions=True, verbose=0)
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0, callbacks=[logger])
    assert history.history["accuracy"][-1] > 0.95
    reader = LogReader(str(tmp_path))
    steps = reader.steps("train", SALIENCY_TAG)
    assert steps == list(range(7))

    def left_share(step):
        saliency = reader.attribution("train", SALIENCY_TAG, step).values()
        return saliency[:, :, :8].sum() / saliency.sum()

    first, last = left_share(0), left_share(6)
    assert last > 0.65, (first, last)
    assert last > first + 0.1, (first, last)
    final = reader.attribution("train", SALIENCY_TAG, 6)
    np.testing.assert_array_equal(final.field("target_class"), probe[1])
    assert (final.field("predicted_class") == probe[1]).mean() >= 0.75


def test_the_callback_writes_both_tags_every_log(tmp_path):
    model = small_classifier(nested=True, extras=True)
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    x = probe_images(24, seed=6)
    y = np.arange(24) % 3
    logger = ActivationLogger(str(tmp_path), (x[:4], y[:4]), layers="conv:0",
                              class_names=["cat", "dog", "owl"], attributions=True, verbose=0)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.attribution_trace_count == (0 if keras.backend.backend() == "torch" else 1)
    reader = LogReader(str(tmp_path))
    tags = reader.tags()["train"]
    cam_info, saliency_info = tags[GRAD_CAM_TAG], tags[SALIENCY_TAG]
    assert cam_info.kind == metadata.Kind.ATTRIBUTION
    assert (cam_info.attribution_method, cam_info.layer_path) == ("grad_cam", "base/c2")
    assert (saliency_info.attribution_method, saliency_info.layer_path) == ("saliency", "")
    assert cam_info.attribution_target == "label" and cam_info.probability == "softmax"
    assert list(cam_info.class_names) == ["cat", "dog", "owl"]
    assert (cam_info.map_height, cam_info.map_width) == (8, 6)
    assert (saliency_info.map_height, saliency_info.map_width) == (12, 10)
    assert reader.steps("train", GRAD_CAM_TAG) == [0, 1, 2]
    for tag in (GRAD_CAM_TAG, SALIENCY_TAG):
        snapshot = reader.attribution("train", tag, 2)
        np.testing.assert_array_equal(snapshot.field("target_class"), [0, 1, 2, 0])
        scores = snapshot.field("predicted_score")
        assert ((scores >= 1 / 3 - 1e-6) & (scores <= 1)).all()
        assert snapshot.class_name(1) == "dog"
        # The events hold the same record as the pixel file.
        np.testing.assert_array_equal(reader.summary("train", tag, 2), snapshot.record)
    # The logged weights are the fitted model's: the last log matches a
    # recomputation with the trained weights.
    _, _, cam, _, _ = run_pipeline(model, x[:4], class_ids=(0, 1, 2, 0))
    logged = reader.attribution("train", GRAD_CAM_TAG, 2).values()
    high = cam.max(axis=(1, 2), keepdims=True)
    assert np.abs(logged - cam).max() <= (high / 255 * 0.51 + 1e-6).max()


@pytest.mark.parametrize("argument, error, words", [
    ("dense", ValueError, "2-D maps larger than 1x1"),
    ("nope", ValueError, "nope"),
    (Attributions(target=7), ValueError, "target class 7 is not one of the model's 3 classes"),
    (3.5, TypeError, "attributions= must be True"),
    (Attributions(target="best"), ValueError, "'predicted', or a class index"),
], ids=["not-maps", "unknown-layer", "target-out-of-range", "bad-type", "bad-target"])
def test_bad_attributions_fail_at_train_begin(tmp_path, argument, error, words):
    model = small_classifier()
    if argument == "dense":
        argument = "head"
    model.compile("adam", "sparse_categorical_crossentropy")
    x = probe_images(8)
    with pytest.raises(error, match=words):
        logger = ActivationLogger(str(tmp_path), x[:4], attributions=argument, verbose=0)
        model.fit(x, np.zeros(8), epochs=1, verbose=0, callbacks=[logger])
    assert not (tmp_path / "train").exists() or not any((tmp_path / "train").iterdir())


def test_a_model_that_is_not_a_classifier_is_refused(tmp_path):
    inputs = keras.Input((12, 10, 3))
    outputs = L.Conv2D(2, 3)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "mse")
    x = probe_images(4)
    logger = ActivationLogger(str(tmp_path), x, attributions=True, verbose=0)
    with pytest.raises(ValueError, match=r"a classifier with one output \(batch, classes\)"):
        model.fit(x, np.zeros((4, 10, 8, 2)), epochs=1, verbose=0, callbacks=[logger])


# Review [12]: mixed precision, a softmax in a nested model, a regression
# output, a model that outputs NaN.


@pytest.fixture
def restore_policy():
    """The global dtype policy a test sets is undone after it."""
    before = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(before)


def quantization_error(logged, expected):
    """Each image's largest difference between a logged map and `expected`,
    over its range (a logged map is quantized to 8 bits of its own range)."""
    span = expected.max(axis=(1, 2)) - expected.min(axis=(1, 2))
    return np.abs(logged - expected).max(axis=(1, 2)) / np.where(span > 0, span, 1)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_logs_attributions_computed_at_the_layers_dtype(tmp_path, policy, restore_policy):
    keras.mixed_precision.set_global_policy(policy)
    compute_dtype = keras.mixed_precision.global_policy().compute_dtype
    model = small_classifier(nested=True)
    x = probe_images(24, seed=7)
    y = np.arange(24) % 3
    labels = (0, 1, 2, 0)
    try:
        model.predict(x[:4], verbose=0)
    except Exception as e:  # a backend's CPU kernels, not tb_actviz
        pytest.skip("Keras on %s cannot run %s on this CPU even for model.predict: %s"
                    % (keras.backend.backend(), policy, e))
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    logger = ActivationLogger(str(tmp_path), (x[:4], y[:4]), attributions=True, verbose=0)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    reader = LogReader(str(tmp_path))
    layer_tags = [metadata.layer_tag("base/c1"), metadata.layer_tag("base/c2")]
    for tag in layer_tags + [GRAD_CAM_TAG, SALIENCY_TAG]:
        assert reader.steps("train", tag) == [0, 1, 2], tag
    for tag in layer_tags:
        assert np.isfinite(reader.layer("train", tag, 2).values()).all()
    # The pass runs at the layer's dtype (the zero tensor added to the
    # Grad-CAM layer's output has its dtype) and gives float32.
    pipeline, _, cam, saliency, predictions = run_pipeline(model, x[:4], class_ids=labels)
    assert pipeline.delta_dtype == compute_dtype
    assert cam.dtype == saliency.dtype == predictions.dtype == np.float32
    # What was logged is, within the policy's precision, what float32 gives.
    keras.mixed_precision.set_global_policy("float32")
    reference = small_classifier(nested=True)
    reference.set_weights(model.get_weights())
    _, _, expected_cam, expected_saliency, expected = run_pipeline(reference, x[:4], class_ids=labels)
    # bfloat16 keeps 8 bits of mantissa: a pixel of a gradient through two
    # convolutions and their ReLUs can be off by a tenth of the map's range
    # (a ReLU that flips), so the maps are compared on the whole.
    mean_error, correlation, score_error = {
        "mixed_float16": (0.003, 0.999, 1e-3), "mixed_bfloat16": (0.015, 0.98, 5e-3)}[policy]
    for tag, expected_map in ((GRAD_CAM_TAG, expected_cam), (SALIENCY_TAG, expected_saliency)):
        snapshot = reader.attribution("train", tag, 2)
        logged = snapshot.values()
        assert np.isfinite(snapshot.record).all() and np.isfinite(logged).all()
        assert expected_map.max() > 0
        span = np.ptp(expected_map, axis=(1, 2), keepdims=True)
        errors = np.abs(logged - expected_map) / np.where(span > 0, span, 1)
        assert errors.mean() <= mean_error, (tag, errors.mean())
        assert np.corrcoef(logged.ravel(), expected_map.ravel())[0, 1] >= correlation, tag
        np.testing.assert_array_equal(snapshot.field("target_class"), labels)
        np.testing.assert_allclose(snapshot.field("target_score"), expected[:, 3], atol=score_error)


def find_layer(model, name):
    for layer in model.layers:
        if layer.name == name:
            return layer
        if isinstance(layer, keras.Model):
            found = find_layer(layer, name)
            if found is not None:
                return found
    return None


def nested_softmax_classifier(kind):
    """conv c1 -> conv c2 -> global average -> dense -> softmax, the softmax
    inside a nested model: "sequential-head", a nested Sequential ending in
    Dense(softmax); "functional-head", a nested Functional ending in
    Activation("softmax"); "nested-classifier", the whole classifier (the
    Grad-CAM layer too) nested in a Sequential."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 10, 3))
    x = L.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = L.Conv2D(5, 3, activation="relu", name="c2")(x)
    x = L.GlobalAveragePooling2D()(x)
    if kind == "sequential-head":
        head = keras.Sequential([keras.Input((5,)), L.Dense(3, activation="softmax", name="dense")], name="head")
        return keras.Model(inputs, head(x))
    if kind == "functional-head":
        head_input = keras.Input((5,))
        head_output = L.Activation("softmax")(L.Dense(3, name="dense")(head_input))
        return keras.Model(inputs, keras.Model(head_input, head_output, name="head")(x))
    inner = keras.Model(inputs, L.Dense(3, activation="softmax", name="dense")(x), name="inner")
    return keras.Sequential([keras.Input((12, 10, 3)), inner])


@pytest.mark.parametrize("kind", ["sequential-head", "functional-head", "nested-classifier"])
def test_a_softmax_inside_a_nested_model_is_left_out(tmp_path, kind):
    model = nested_softmax_classifier(kind)
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    x = probe_images(16, seed=8)
    y = np.arange(16) % 3
    labels = np.array([0, 1, 2, 0])
    logger = ActivationLogger(str(tmp_path), (x[:4], labels), layers="conv:0", attributions=True, verbose=0)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    reader = LogReader(str(tmp_path))
    assert reader.tags()["train"][GRAD_CAM_TAG].probability == "softmax"
    # The recorded scores are model.predict's probabilities, softmaxed once.
    probabilities = model.predict(x[:4], verbose=0)
    predicted = probabilities.argmax(axis=1)
    record = reader.attribution("train", GRAD_CAM_TAG, 1)
    np.testing.assert_array_equal(record.field("predicted_class"), predicted)
    np.testing.assert_allclose(record.field("predicted_score"), probabilities[np.arange(4), predicted], atol=1e-5)
    np.testing.assert_allclose(record.field("target_score"), probabilities[np.arange(4), labels], atol=1e-5)
    # And the maps explain the logits (the numpy reference has no softmax).
    weights = [[values(v) for v in find_layer(model, name).weights] for name in ("c1", "c2", "dense")]
    expected_cam, expected_saliency, _, _ = numpy_attributions(x[:4], weights, labels)
    _, _, cam, saliency, _ = run_pipeline(model, x[:4], class_ids=labels)
    np.testing.assert_allclose(cam, expected_cam, rtol=1e-4, atol=1e-6 * expected_cam.max())
    np.testing.assert_allclose(saliency, expected_saliency, rtol=1e-4, atol=1e-6 * expected_saliency.max())
    assert quantization_error(record.values(), expected_cam).max() <= 0.51 / 255
    logged_saliency = reader.attribution("train", SALIENCY_TAG, 1).values()
    assert quantization_error(logged_saliency, expected_saliency).max() <= 0.51 / 255


def dense_output_model(units, activation=None):
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((12, 10, 3)), L.Conv2D(4, 3, activation="relu", name="c1"),
        L.GlobalAveragePooling2D(), L.Dense(units, activation=activation, name="out"),
    ])


@pytest.mark.parametrize("units, loss, words", [
    (1, "mse", r"output out \(Dense, 1 unit\) has no final softmax or sigmoid and its loss is 'mse'"),
    (3, keras.losses.MeanAbsoluteError(), r"out \(Dense, 3 units\) .* loss is MeanAbsoluteError"),
    (3, "categorical_crossentropy", r"loss is 'categorical_crossentropy', which takes probabilities"),
    (1, None, r"the model is not compiled"),
], ids=["regression-1-unit", "regression-3-units", "probabilities-loss-without-softmax", "no-loss"])
def test_a_regression_output_is_refused_at_train_begin(tmp_path, units, loss, words):
    model = dense_output_model(units)
    if loss is not None:
        model.compile("adam", loss)
    x = probe_images(8)
    y = np.full((8, units), 5.0)
    # Integer probe labels, as a regression's targets may look.
    logger = ActivationLogger(str(tmp_path), (x[:4], np.full(4, 5)), attributions=True, verbose=0)
    with pytest.raises(ValueError, match=words) as raised:
        if loss is None:
            logger.set_model(model)
            logger.on_train_begin()
        else:
            model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert "Attributions(output='logits')" in str(raised.value)
    assert "target class" not in str(raised.value)
    assert not (tmp_path / "train").exists() or not any((tmp_path / "train").iterdir())


@pytest.mark.parametrize("units, loss, output, probability", [
    (1, keras.losses.BinaryCrossentropy(from_logits=True), None, "sigmoid"),
    (3, keras.losses.SparseCategoricalCrossentropy(from_logits=True), None, "softmax"),
    (3, keras.losses.BinaryCrossentropy(from_logits=True), None, "sigmoid"),
    (1, "mse", "logits", "sigmoid"),
    (3, "mse", "logits", "softmax"),
], ids=["one-logit-bce", "logits-sparse-ce", "multi-label-logits-bce", "declared-one-logit", "declared-logits"])
def test_logits_are_accepted_by_their_loss_or_when_declared(tmp_path, units, loss, output, probability):
    attributions = True if output is None else Attributions(output=output)
    model = dense_output_model(units)
    model.compile("adam", loss)
    x = probe_images(8, seed=9)
    labels = np.array([0, 1, 1, 0])
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        y = np.arange(8) % units
    else:
        y = np.tile(np.arange(8)[:, None] % 2, (1, units))
    logger = ActivationLogger(str(tmp_path), (x[:4], labels), attributions=attributions, verbose=0)
    model.fit(x, y.astype("float32"), epochs=1, verbose=0, callbacks=[logger])
    snapshot = LogReader(str(tmp_path)).attribution("train", GRAD_CAM_TAG, 1)
    assert snapshot.info.probability == probability
    logits = model.predict(x[:4], verbose=0).astype(np.float64)
    if units == 1:
        logits = np.concatenate([-logits, logits], axis=1)
    if probability == "sigmoid":
        expected = 1 / (1 + np.exp(-logits))
    else:
        expected = np.exp(logits - logits.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
    predicted = logits.argmax(axis=1)
    np.testing.assert_array_equal(snapshot.field("predicted_class"), predicted)
    np.testing.assert_allclose(snapshot.field("predicted_score"), expected[np.arange(4), predicted], atol=1e-5)
    np.testing.assert_allclose(snapshot.field("target_score"), expected[np.arange(4), labels], atol=1e-5)


def test_attributions_output_must_be_known(tmp_path):
    with pytest.raises(ValueError, match=r"Attributions\(output=\) must be None .* or 'logits'; got 'probs'"):
        ActivationLogger(str(tmp_path), probe_images(2), attributions=Attributions(output="probs"))


def test_declared_logits_for_a_softmax_output_are_refused(tmp_path):
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    x = probe_images(8)
    logger = ActivationLogger(str(tmp_path), x[:4], attributions=Attributions(output="logits"), verbose=0)
    with pytest.raises(ValueError, match=r"its output head \(Dense, 3 units\) ends in a softmax; leave output= out"):
        model.fit(x, np.arange(8) % 3, epochs=1, verbose=0, callbacks=[logger])


def test_a_model_that_outputs_nan_is_recorded_as_not_finite(tmp_path):
    from tb_actviz import export

    model = small_classifier()
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    # NaN in the first conv and in the head: a fused conv + relu (TensorFlow's
    # oneDNN kernels on AVX-512 CPUs) turns NaN into 0, a matmul and a softmax never do.
    for name in ("c1", "head"):
        kernel = model.get_layer(name).kernel
        kernel.assign(np.full(tuple(kernel.shape), np.nan, np.float32))
    assert np.isnan(model.predict(probe_images(4), verbose=0)).all()
    x = probe_images(8)
    y = np.arange(8) % 3
    labels = [0, 1, 2, 0]
    cam_log, predicted_log = str(tmp_path / "labels"), str(tmp_path / "predicted")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[
        ActivationLogger(cam_log, (x[:4], y[:4]), layers="conv:0", attributions=True,
                         class_names=["cat", "dog", "owl"], verbose=0),
        ActivationLogger(predicted_log, x[:4], layers="conv:0", attributions=True, verbose=0),
    ])
    for log_dir, target_class in ((cam_log, labels), (predicted_log, [np.nan] * 4)):
        reader = LogReader(log_dir)
        for tag in (GRAD_CAM_TAG, SALIENCY_TAG):
            assert reader.steps("train", tag) == [0, 1]
            for step in (0, 1):
                snapshot = reader.attribution("train", tag, step)
                assert np.isnan(snapshot.field("predicted_class")).all(), (tag, step)
                assert np.isnan(snapshot.field("predicted_score")).all()
                np.testing.assert_array_equal(snapshot.field("target_class"), target_class)
                assert np.isnan(snapshot.field("target_score")).all()
                # Every map has non-finite pixels (all of them where NaN reaches every
                # activation; where a backend's fused kernels zero some, fewer).
                pixels = snapshot.info.map_height * snapshot.info.map_width
                counts = snapshot.field("map_nonfinite_count")
                assert ((counts > 0) & (counts <= pixels)).all(), (tag, step, counts, pixels)
    # What the export titles a tile with.
    snapshot = LogReader(cam_log).attribution("train", GRAD_CAM_TAG, 1)
    assert export.prediction_text(snapshot, 1) == "predicted: not finite (true: dog)"
    snapshot = LogReader(predicted_log).attribution("train", GRAD_CAM_TAG, 1)
    assert export.prediction_text(snapshot, 0) == "predicted: not finite"


class _CountedForward(L.Layer):
    """An identity layer that counts how often it runs (eagerly: PyTorch)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.runs = 0

    def call(self, x):
        self.runs += 1
        return x


@pytest.mark.parametrize("layers, one_pass", [
    (["conv:0", "base/c2"], True),  # base/c2 is also the Grad-CAM layer
    (["conv:0", "head"], False),  # the head's maps are its softmax, which the pass leaves out
])
def test_with_attributions_one_pass_gives_the_layers_maps(tmp_path, layers, one_pass):
    model = small_classifier(nested=True, extras=True)
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    x = probe_images(16, seed=4)
    y = np.arange(16) % 3
    both = ActivationLogger(str(tmp_path / "both"), (x[:4], y[:4]), layers=layers,
                            attributions=True, verbose=0)
    alone = ActivationLogger(str(tmp_path / "alone"), (x[:4], y[:4]), layers=layers, verbose=0)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[both, alone])
    assert both._capture._one_pass is one_pass
    traces = 0 if keras.backend.backend() == "torch" else 1
    assert both.trace_count == both.attribution_trace_count == traces
    with_attributions, without = LogReader(str(tmp_path / "both")), LogReader(str(tmp_path / "alone"))
    for path in ("base/c1", layers[1]):
        tag = metadata.layer_tag(path)
        assert with_attributions.steps("train", tag) == without.steps("train", tag) == [0, 1, 2]
        for step in (0, 2):
            ours, theirs = with_attributions.layer("train", tag, step), without.layer("train", tag, step)
            span = np.maximum(theirs.stat("max") - theirs.stat("min"), 1e-6)[..., None, None]
            assert (np.abs(ours.values() - theirs.values()) <= span / 255 * 1.01 + 1e-6).all(), (path, step)
            np.testing.assert_allclose(ours.stats, theirs.stats, rtol=1e-4, atol=1e-5)
    if not one_pass:
        head = with_attributions.layer("train", metadata.layer_tag("head"), 2)
        np.testing.assert_allclose(head.stat("mean") * 3, 1.0, rtol=1e-4)  # softmax rows sum to 1


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="counts eager forward runs")
def test_with_attributions_a_log_runs_the_model_once(tmp_path):
    keras.utils.set_random_seed(3)
    counted = _CountedForward(name="counted")
    inputs = keras.Input((12, 10, 3))
    features = L.Conv2D(4, 3, activation="relu", name="c1")(counted(inputs))
    features = L.Conv2D(5, 3, activation="relu", name="c2")(features)
    outputs = L.Dense(3, activation="softmax", name="head")(L.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    logger = ActivationLogger(str(tmp_path), probe_images(4), layers=["c1", "c2"],
                              attributions=True, verbose=0)
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_epoch_begin(0)  # step 0
    logger.flush()
    before = counted.runs
    logger.on_epoch_end(0)  # step 1
    logger.on_train_end()
    assert counted.runs - before == 1
