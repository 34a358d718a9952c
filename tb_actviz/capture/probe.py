"""The probe: the fixed batch whose activations are logged."""

import dataclasses
import logging

import numpy as np

# Where a dict probe's labels are taken from (a key that is not one of the
# model's inputs), as tf.data pipelines and TensorFlow Datasets name them.
LABEL_KEYS = ("label", "labels", "y", "target", "targets")

logger = logging.getLogger("tb_actviz")


@dataclasses.dataclass(frozen=True)
class Probe:
    """A probe batch as numpy arrays.

    Attributes:
      inputs: the model input, an array (or a list/dict of arrays for
        multi-input models), batch axis first. A dict as given may hold the
        labels too: `for_model` matches its keys with the model's inputs
        and gives the inputs as a list, in the order of `model.inputs`.
      labels: one string per image ("" where there were no labels).
      given_shapes: the inputs' shapes as passed (before `max_images`), in
        the structure of `inputs`, to tell a single sample passed as a batch.
      class_ids: the labels as class indices (integer, integer-valued or
        one-hot labels), else None.
      has_labels: whether labels were given.
    """

    inputs: object
    labels: tuple
    given_shapes: object = ()
    class_ids: tuple = None
    has_labels: bool = False

    @property
    def size(self):
        return len(self.labels)

    def first_input(self):
        if isinstance(self.inputs, dict):
            return next(iter(self.inputs.values()))
        if isinstance(self.inputs, (list, tuple)):
            return self.inputs[0]
        return self.inputs


def _to_numpy(value):
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_numpy(v) for v in value]
    if hasattr(value, "detach"):  # a torch tensor, maybe on a device or with grad
        value = value.detach().cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value)


def _take(value, count):
    if isinstance(value, dict):
        return {k: v[:count] for k, v in value.items()}
    if isinstance(value, list):
        return [v[:count] for v in value]
    return value[:count]


def _arrays(value):
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    return [value]


def _batch_size(value):
    """The batch size all inputs share.

    Raises:
      ValueError: inputs of different batch sizes.
    """
    sizes = [array.shape[0] if array.ndim else 0 for array in _arrays(value)]
    if len(set(sizes)) > 1 and 0 in sizes and isinstance(value, dict):
        raise ValueError(
            "probe= looks like one sample, not a batch (%s is a scalar): pass a batch "
            "of each key, and for a tf.data.Dataset, dataset.batch(8) (its first "
            "element is used)" % ", ".join(repr(k) for k, v in value.items() if not v.ndim)
        )
    if len(set(sizes)) > 1:
        raise ValueError(
            "probe= inputs have different batch sizes %s: pass one batch, the same "
            "images in each input" % sizes
        )
    return sizes[0] if sizes else 0


def _label_strings(y, count, class_names):
    """One string per image for labels `y` (already as many as the images)."""
    if y is None:
        return ("",) * count
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y
    names = None if class_names is None else list(class_names)
    labels = []
    for position, value in enumerate(y):
        if names is not None and np.issubdtype(y.dtype, np.integer):
            if not 0 <= int(value) < len(names):
                raise ValueError(
                    "probe= label %d of image %d is not an index into class_names "
                    "(%d names: 0 to %d)" % (int(value), position, len(names), len(names) - 1)
                )
            labels.append(str(names[int(value)]))
        elif np.issubdtype(y.dtype, np.floating) and float(value).is_integer():
            labels.append(str(int(value)))
        elif isinstance(value, bytes):
            labels.append(value.decode("utf-8", errors="backslashreplace"))
        else:
            labels.append(str(value))
    return tuple(labels)


def _class_ids(y):
    """Labels as class indices, or None when they are not class labels."""
    if y is None:
        return None
    if y.ndim == 2 and y.shape[1] > 1:
        return tuple(int(i) for i in y.argmax(axis=1))
    y = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y
    if np.issubdtype(y.dtype, np.integer) and (y >= 0).all():
        return tuple(int(v) for v in y)
    if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all() and (y >= 0).all():
        return tuple(int(v) for v in y)
    return None


def _shapes(value):
    if isinstance(value, dict):
        return {k: tuple(v.shape) for k, v in value.items()}
    if isinstance(value, list):
        return [tuple(v.shape) for v in value]
    return tuple(value.shape)


def _checked_labels(y, count):
    """`y` (numpy) as the labels of `count` images.

    Raises:
      TypeError / ValueError: not one label per image.
    """
    if isinstance(y, (list, dict)):
        raise TypeError("probe= labels must be one array (one label per image), got a %s"
                        % type(y).__name__)
    if y.ndim == 0 or len(y) != count:
        raise ValueError(
            "probe= has %d images but %s labels: pass as many labels as images, "
            "e.g. (x[:8], y[:8])" % (count, len(y) if y.ndim else "a scalar for")
        )
    return y


def _first_batch(dataset):
    for batch in dataset.take(1):
        return batch
    raise ValueError("probe= is an empty tf.data.Dataset")


def make_probe(probe, max_images, class_names=None):
    """Normalizes the `probe=` argument.

    Args:
      probe: an array or tensor, an `(x, y)` tuple, or a `tf.data.Dataset`
        (its first batch is used); x may be a dict of inputs, and a dict
        without y may hold the labels under one of `LABEL_KEYS` (taken by
        `for_model`, which knows the model's input names).
      max_images: keep at most this many images.
      class_names: optional names for integer labels.

    Raises:
      ValueError / TypeError: the probe is empty or of an unknown kind.
    """
    if probe is None:
        raise ValueError("probe= is required: a fixed batch of model inputs, e.g. x_val[:8]")
    if hasattr(probe, "take") and hasattr(probe, "element_spec"):
        probe = _first_batch(probe)
    y = None
    if isinstance(probe, tuple):
        if len(probe) not in (1, 2, 3):
            raise ValueError(
                "probe= as a tuple must be (x,) or (x, y) (or (x, y, sample_weight)); "
                "got a tuple of %d items" % len(probe)
            )
        probe, y = probe[0], (probe[1] if len(probe) > 1 else None)
    try:
        x = _to_numpy(probe)
    except Exception as e:
        raise TypeError(
            "probe= must be an array, a tensor, an (x, y) tuple or a tf.data.Dataset; "
            "got %s" % type(probe).__name__
        ) from e
    count = _batch_size(x)
    if count == 0:
        raise ValueError("probe= holds no images: pass a batch such as x_val[:8]")
    if y is not None:
        y = _checked_labels(_to_numpy(y), count)
    given_shapes = _shapes(x)
    count = min(count, max_images)
    y = None if y is None else y[:count]
    labels = _label_strings(y, count, class_names)
    return Probe(inputs=_take(x, count), labels=labels, given_shapes=given_shapes,
                 class_ids=_class_ids(y), has_labels=y is not None)


def input_keys(model):
    """Per input of `model` (in the order of `model.inputs`), the key that
    feeds it from a dict, as Keras's `fit` takes one: the key of a model built
    on a dict of inputs, else the name of the input (`keras.Input(name=)`)."""
    try:
        struct = model.input
    except Exception:  # noqa: BLE001 - a Sequential model's `input` may raise; names then
        struct = None
    by_tensor = {id(t): k for k, t in struct.items()} if isinstance(struct, dict) else {}
    return [by_tensor.get(id(t), getattr(t, "name", "")) for t in model.inputs]


def _label_key(extra, keys):
    """The key of a dict probe's labels among `extra` (the keys that feed no
    input), or None; warns when keys are left out and none is a label key."""
    candidates = [k for k in extra if k in LABEL_KEYS]
    if len(candidates) > 1:
        raise ValueError(
            "probe= is a dict with several keys that could hold the labels (%s; the "
            "model's inputs are %s): pass probe=(features, labels), the features as "
            "a dict keyed by the input names" % (", ".join(map(repr, candidates)), keys)
        )
    if not candidates and extra:
        logger.warning(
            "tb_actviz: probe= keys %s are not inputs of the model (%s) and are left "
            "out. Labels are taken from a key named %s, or pass probe=(features, "
            "labels) (a (features_dict, labels) tuple, as a tf.data.Dataset of such "
            "pairs gives).", ", ".join(map(repr, extra)), keys,
            ", ".join(map(repr, LABEL_KEYS)),
        )
    return candidates[0] if candidates else None


def for_model(probe, model, class_names=None):
    """The probe as `model` takes it, checked with `check_fits`.

    A dict's keys are matched with the model's inputs (`input_keys`), and its
    inputs given as a list in the order of `model.inputs`; without labels
    given apart, a key of `LABEL_KEYS` that feeds no input holds them.

    Raises:
      ValueError: a model input has no key in the dict (the message names the
        keys given and the model's input names), several keys could be the
        labels, labels that do not fit, or inputs that do not fit.
    """
    if not getattr(model, "inputs", None):
        return _for_subclassed(probe, class_names)
    if not isinstance(probe.inputs, dict):
        check_fits(probe, model)
        return probe
    given = probe.inputs
    keys = input_keys(model)
    missing = [k for k in keys if k not in given]
    if missing:
        raise ValueError(
            "probe= is a dict with keys %s, but the model's inputs are named %s (no "
            "key for %s): key each input by its name, as model.fit takes a dict (the "
            "name= of its keras.Input), or pass the array itself to a single-input "
            "model; labels go under a key such as 'label', or pass probe=(x, y)"
            % (list(given), keys, ", ".join(map(repr, missing)))
        )
    extra = [k for k in given if k not in keys]
    labels, class_ids, has_labels = probe.labels, probe.class_ids, probe.has_labels
    label_key = None if has_labels else _label_key(extra, keys)
    if label_key is not None:
        y = _checked_labels(given[label_key], probe.size)
        labels, class_ids, has_labels = _label_strings(y, probe.size, class_names), _class_ids(y), True
    resolved = dataclasses.replace(
        probe,
        inputs=[given[k] for k in keys],
        given_shapes=[probe.given_shapes[k] for k in keys],
        labels=labels,
        class_ids=class_ids,
        has_labels=has_labels,
    )
    check_fits(resolved, model)
    return resolved


def _for_subclassed(probe, class_names):
    """A model without symbolic inputs (subclassed) takes the probe as given:
    its forward pass checks it (`layer_tree.trace_model`). A dict
    without labels apart gives them under one key of `LABEL_KEYS`."""
    if not isinstance(probe.inputs, dict) or probe.has_labels:
        return probe
    label_keys = [k for k in probe.inputs if k in LABEL_KEYS]
    if len(label_keys) != 1:
        return probe
    y = _checked_labels(probe.inputs[label_keys[0]], probe.size)
    inputs = {k: v for k, v in probe.inputs.items() if k != label_keys[0]}
    return dataclasses.replace(
        probe, inputs=inputs,
        given_shapes={k: v for k, v in probe.given_shapes.items() if k != label_keys[0]},
        labels=_label_strings(y, probe.size, class_names), class_ids=_class_ids(y),
        has_labels=True)


def model_inputs(probe):
    """The probe's inputs as the model is called with them: a list of one
    input as that input itself."""
    inputs = probe.inputs
    if isinstance(inputs, list) and len(inputs) == 1:
        return inputs[0]
    return inputs


def check_fits(probe, model):
    """Raises a ValueError naming the expected shape if `probe` (not a dict:
    see `for_model`) does not fit `model`'s inputs."""
    arrays, given_shapes = probe.inputs, probe.given_shapes
    if isinstance(arrays, dict):
        for_model(probe, model)  # matches the keys with the inputs, then checks
        return
    if not isinstance(arrays, list):
        arrays, given_shapes = [arrays], [given_shapes]
    if not isinstance(given_shapes, list) or len(given_shapes) != len(arrays):
        given_shapes = [()] * len(arrays)
    if len(arrays) != len(model.inputs):
        raise ValueError(
            "probe= gives %d input(s) but the model takes %d: %s"
            % (len(arrays), len(model.inputs), [tuple(t.shape) for t in model.inputs])
        )
    for array, given, symbolic in zip(arrays, given_shapes, model.inputs):
        expected = tuple(symbolic.shape[1:])
        got = tuple(array.shape[1:])
        fits = len(expected) == len(got) and all(
            e is None or e == g for e, g in zip(expected, got)
        )
        if not fits:
            hint = "Pass a batch of model inputs such as x_val[:8]."
            if len(given) == len(expected) and all(e is None or e == g for e, g in zip(expected, given)):
                hint = (
                    "It looks like one sample of shape %s, not a batch: pass x_val[:8] "
                    "rather than x_val[0], and for a tf.data.Dataset, dataset.batch(8) "
                    "(its first element is used)." % (given,)
                )
            raise ValueError(
                "probe= does not fit the model's input: expected samples "
                "of shape %s (batch first: (N,) + %s), got %s. %s"
                % (expected, expected, (array.shape[0],) + got, hint)
            )
