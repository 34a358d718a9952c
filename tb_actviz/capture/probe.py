"""The probe: the fixed batch whose activations are logged."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Probe:
    """A probe batch as numpy arrays.

    Attributes:
      inputs: the model input, an array (or a list/dict of arrays for
        multi-input models), batch axis first.
      labels: one string per image ("" where there were no labels).
      class_ids: the labels as class indices (integer, integer-valued or
        one-hot labels), else None.
      given_shape: the first input's shape as passed (before `max_images`),
        to tell a single sample passed as a batch.
    """

    inputs: object
    labels: tuple
    given_shape: tuple = ()  # the first input's shape as passed, before max_images
    class_ids: tuple = None

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


def _first_batch(dataset):
    for batch in dataset.take(1):
        return batch
    raise ValueError("probe= is an empty tf.data.Dataset")


def make_probe(probe, max_images, class_names=None):
    """Normalizes the `probe=` argument.

    Args:
      probe: an array or tensor, an `(x, y)` tuple, or a `tf.data.Dataset`
        (its first batch is used).
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
        y = _to_numpy(y)
        if isinstance(y, (list, dict)):
            raise TypeError("probe= labels must be one array (one label per image), got a %s"
                            % type(y).__name__)
        if y.ndim == 0 or len(y) != count:
            raise ValueError(
                "probe= has %d images but %s labels: pass as many labels as images, "
                "e.g. (x[:8], y[:8])" % (count, len(y) if y.ndim else "a scalar for")
            )
    given_shape = tuple(_arrays(x)[0].shape)
    count = min(count, max_images)
    y = None if y is None else y[:count]
    labels = _label_strings(y, count, class_names)
    return Probe(inputs=_take(x, count), labels=labels, given_shape=given_shape,
                 class_ids=_class_ids(y))


def check_fits(probe, model):
    """Raises a ValueError naming the expected shape if `probe` does not fit
    `model`'s inputs."""
    arrays = probe.inputs
    if isinstance(arrays, dict):
        arrays = [arrays[getattr(t, "name", "")] if getattr(t, "name", "") in arrays else v
                  for t, v in zip(model.inputs, arrays.values())]
    elif not isinstance(arrays, list):
        arrays = [arrays]
    if len(arrays) != len(model.inputs):
        raise ValueError(
            "probe= gives %d input(s) but the model takes %d: %s"
            % (len(arrays), len(model.inputs), [tuple(t.shape) for t in model.inputs])
        )
    for array, symbolic in zip(arrays, model.inputs):
        expected = tuple(symbolic.shape[1:])
        got = tuple(array.shape[1:])
        fits = len(expected) == len(got) and all(
            e is None or e == g for e, g in zip(expected, got)
        )
        if not fits:
            hint = "Pass a batch of model inputs such as x_val[:8]."
            given = probe.given_shape if array is arrays[0] else ()
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
