"""tb_actviz.capture.probe: make_probe, the probe argument as arrays, tensors
of the backend in use, (x, y) tuples with labels, and tf.data datasets (the
probe in real fits: tests/integration/test_callback.py)."""

import keras
import numpy as np
import pytest

from tb_actviz.capture import probe as probe_lib


def test_probe_from_array():
    x = np.arange(5 * 4 * 4).reshape(5, 4, 4, 1).astype("float32")
    p = probe_lib.make_probe(x, max_images=16)
    np.testing.assert_array_equal(p.inputs, x)
    assert p.labels == ("",) * 5 and p.size == 5


def test_probe_from_tensor_is_capped():
    x = keras.random.normal((10, 4, 4, 3))  # a tensor of the backend in use
    p = probe_lib.make_probe(x, max_images=4)
    assert p.size == 4 and p.inputs.shape == (4, 4, 4, 3)
    np.testing.assert_array_equal(p.inputs, keras.ops.convert_to_numpy(x)[:4])


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


@pytest.mark.parametrize("labels", [3, 9], ids=["fewer", "more"])
def test_probe_labels_must_match_the_images(labels):
    x = np.zeros((6, 4, 4, 1))
    with pytest.raises(ValueError, match="probe= has 6 images but %d labels.*y\\[:8\\]" % labels):
        probe_lib.make_probe((x, np.arange(labels) % 2), max_images=8)


@pytest.mark.parametrize("label", [2, -1], ids=["past the end", "negative"])
def test_a_label_outside_class_names_says_so(label):
    x = np.zeros((3, 4, 4, 1))
    with pytest.raises(ValueError, match=r"label %d of image 1 is not an index into class_names "
                                         r"\(2 names: 0 to 1\)" % label):
        probe_lib.make_probe((x, np.array([0, label, 1])), 8, class_names=["cat", "dog"])


def test_byte_labels_that_are_not_utf8_are_shown_escaped():
    x = np.zeros((2, 4, 4, 1))
    p = probe_lib.make_probe((x, np.array([b"caf\xe9", b"ok"], dtype=object)), 8)
    assert p.labels == ("caf\\xe9", "ok")


def test_inputs_of_different_batch_sizes_are_refused():
    with pytest.raises(ValueError, match=r"different batch sizes \[4, 3\]"):
        probe_lib.make_probe([np.zeros((4, 2)), np.zeros((3, 2))], 8)


def test_probe_from_dataset_first_batch():
    tf = pytest.importorskip("tensorflow")
    x = np.arange(10 * 2 * 2).reshape(10, 2, 2, 1).astype("float32")
    y = np.arange(10) % 2
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    p = probe_lib.make_probe(ds, max_images=16, class_names=["even", "odd"])
    np.testing.assert_array_equal(p.inputs, x[:4])
    assert p.labels == ("even", "odd", "even", "odd")
    p = probe_lib.make_probe(tf.data.Dataset.from_tensor_slices(x).batch(3), max_images=2)
    np.testing.assert_array_equal(p.inputs, x[:2])


def _empty_dataset():
    tf = pytest.importorskip("tensorflow")
    return tf.data.Dataset.from_tensor_slices(np.zeros((0, 2))).batch(2)


@pytest.mark.parametrize(
    "make_probe",
    [lambda: np.zeros((0, 4, 4, 1)), _empty_dataset, lambda: None],
    ids=["empty array", "empty dataset", "None"],
)
def test_empty_probe_is_an_error(make_probe):
    with pytest.raises(ValueError):
        probe_lib.make_probe(make_probe(), max_images=8)
