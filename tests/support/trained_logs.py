"""Real training runs written by `model.fit` (a pytest plugin, registered by
tests/conftest.py).

`trained_logs` (session): a log root written by real `model.fit` runs with
`ActivationLogger` (and `keras.callbacks.TensorBoard` on the same log dir).
Two experiments under one root, so one TensorBoard serves both
(`tensorboard_server` in tensorboard_process.py):
  * `faces`: a small CNN trained on `skimage.data.lfw_subset()` faces for
    `FACES_EPOCHS` epochs, logged every epoch (steps 0..FACES_EPOCHS);
  * `many`: a tiny model logged every batch (`update_freq=1`), 16 steps,
    more than TensorBoard's default of 10 samples for unknown plugins.

Keras is imported only when the fixture is used.
"""

import dataclasses
import os

import numpy as np
import pytest

from keras_helpers import keras_tensorboard_callback

FACES_EPOCHS = 4
FACES_PROBE_SIZE = 6
FACES_IMAGE_SIZE = 25
FACES_MAX_MAP_SIZE = 16
FACES_MAX_FILTERS = 10
FACES_CLASS_NAMES = ["not face", "face"]
MANY_STEPS = 15  # update_freq=1 batches; with step 0: 16 logged steps


# Training runs ---------------------------------------------------------------


@dataclasses.dataclass
class LoggedExperiment:
    """One `model.fit` run logged by ActivationLogger under `root/name`."""

    root: str
    name: str
    log_dir: str
    run: str  # run name as TensorBoard shows it (relative to root)
    steps: list
    layers: dict  # layer path -> expected geometry/metadata
    probe_x: np.ndarray
    probe_labels: list
    # Layer outputs for the probe, (N, ...) float32, before training (step 0)
    # and after the last epoch (the last step).
    initial_outputs: dict
    final_outputs: dict
    # Tags beside the layers' and the probe's (attributions=True).
    attribution_tags: tuple = ()

    def tag(self, path):
        return "actviz/layers/" + path


def _faces_data():
    from skimage import data, transform

    images = data.lfw_subset()
    labels = np.array([1] * 100 + [0] * 100)
    x = np.stack([transform.resize(im, (FACES_IMAGE_SIZE, FACES_IMAGE_SIZE)) for im in images])
    x = x[..., None].astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], labels[order]


def _outputs(model, names, x):
    import keras

    probe_model = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outs = probe_model(x, training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return {n: np.asarray(keras.ops.convert_to_numpy(o)) for n, o in zip(names, outs)}


def _train_faces(root):
    import keras
    from tb_actviz import ActivationLogger

    keras.utils.set_random_seed(0)
    x, y = _faces_data()
    x_train, y_train = x[:160], y[:160]
    probe_x, probe_y = x[160:160 + FACES_PROBE_SIZE], y[160:160 + FACES_PROBE_SIZE]
    model = keras.Sequential(
        [
            keras.Input((FACES_IMAGE_SIZE, FACES_IMAGE_SIZE, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, activation="softmax", name="dense"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    names = ["conv1", "conv2", "dense"]
    initial = _outputs(model, names, probe_x)
    log_dir = os.path.join(root, "faces")
    model.fit(
        x_train,
        y_train,
        epochs=FACES_EPOCHS,
        batch_size=32,
        verbose=0,
        callbacks=keras_tensorboard_callback(log_dir) + [
            ActivationLogger(
                log_dir,
                probe=(probe_x, probe_y),
                layers=["conv*", "dense"],
                max_map_size=FACES_MAX_MAP_SIZE,
                max_filters=FACES_MAX_FILTERS,
                class_names=FACES_CLASS_NAMES,
                attributions=True,
                verbose=0,
            ),
        ],
    )
    final = _outputs(model, names, probe_x)
    n = FACES_PROBE_SIZE
    layers = {
        # 25x25 > 16: factor ceil(25/16) = 2, stored 13x13.
        "conv1": dict(index=0, cls="Conv2D", output_shape=[25, 25, 8], map_kind="maps",
                      F=8, H=13, W=13, source=(25, 25), factor=2),
        "conv2": dict(index=2, cls="Conv2D", output_shape=[12, 12, 12], map_kind="maps",
                      F=FACES_MAX_FILTERS, H=12, W=12, source=(12, 12), factor=1),
        "dense": dict(index=4, cls="Dense", output_shape=[2], map_kind="units",
                      F=1, H=1, W=2, source=(1, 2), factor=1),
    }
    for geometry in layers.values():
        geometry["N"] = n
    return LoggedExperiment(
        root=root,
        name="faces",
        log_dir=log_dir,
        run="faces/train",
        steps=list(range(FACES_EPOCHS + 1)),
        layers=layers,
        probe_x=probe_x,
        probe_labels=[FACES_CLASS_NAMES[int(v)] for v in probe_y],
        initial_outputs=initial,
        final_outputs=final,
        attribution_tags=("actviz/attribution/grad_cam", "actviz/attribution/saliency"),
    )


def _train_many(root):
    import keras
    from tb_actviz import ActivationLogger

    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2 * MANY_STEPS, 8, 8, 1)).astype("float32")
    y = rng.normal(size=(2 * MANY_STEPS, 1)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="c"),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )
    model.compile("sgd", "mse")
    initial = _outputs(model, ["c"], x[:3])
    log_dir = os.path.join(root, "many")
    model.fit(
        x, y, epochs=1, batch_size=2, verbose=0,
        callbacks=[ActivationLogger(log_dir, probe=x[:3], layers="c", update_freq=1, verbose=0)],
    )
    return LoggedExperiment(
        root=root,
        name="many",
        log_dir=log_dir,
        run="many/train",
        steps=list(range(MANY_STEPS + 1)),
        layers={"c": dict(index=0, cls="Conv2D", output_shape=[6, 6, 4], map_kind="maps",
                          F=4, H=6, W=6, source=(6, 6), factor=1, N=3)},
        probe_x=x[:3],
        probe_labels=["", "", ""],
        initial_outputs=initial,
        final_outputs=_outputs(model, ["c"], x[:3]),
    )


@dataclasses.dataclass
class TrainedLogs:
    root: str
    faces: LoggedExperiment
    many: LoggedExperiment

    @property
    def experiments(self):
        return [self.faces, self.many]


@pytest.fixture(scope="session")
def trained_logs(tmp_path_factory):
    """A log root written by real `model.fit` runs (see module docstring)."""
    root = str(tmp_path_factory.mktemp("logs"))
    return TrainedLogs(root=root, faces=_train_faces(root), many=_train_many(root))
