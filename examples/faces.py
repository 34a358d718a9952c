"""Train a small CNN on faces vs. non-faces and log its conv layers every epoch.

The data ships with scikit-image (`skimage.data.lfw_subset()`: 100 faces and
100 non-face patches, 25x25, gray), so this runs offline.

    python examples/faces.py --log_dir logs/faces
    tensorboard --logdir logs/faces     # then open the Activations tab

Any Keras backend: KERAS_BACKEND=jax (or torch) python examples/faces.py.
"""

import argparse

import keras
import numpy as np
from skimage import data, transform

from tb_actviz import ActivationLogger, ScalarLogger, list_layers


def load_faces(image_size, seed=0):
    """Faces (label 1) and non-faces (label 0), resized, shuffled, split."""
    images = data.lfw_subset()
    labels = np.array([1] * 100 + [0] * 100)
    x = np.stack([transform.resize(im, (image_size, image_size)) for im in images])
    x = x[..., None].astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, labels = x[order], labels[order]
    return (x[:160], labels[:160]), (x[160:], labels[160:])


def build_model(image_size):
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 1)),
            keras.layers.RandomFlip("horizontal"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


def activation_logger(log_dir, x_val, y_val, probe_size, logger_class=ActivationLogger, **options):
    """The example's callback: every conv layer, every epoch, kernels and
    where the model looks (Grad-CAM and saliency) too; `options` override."""
    return logger_class(
        log_dir,
        probe=(x_val[:probe_size], y_val[:probe_size]),
        class_names=["not face", "face"],
        **{"kernels": True, "attributions": True, **options},
    )


def scalar_logger(log_dir):
    """Loss and accuracy curves on every backend: tb_actviz's ScalarLogger
    writes what keras.callbacks.TensorBoard does, without TensorFlow (which
    that callback needs on every backend)."""
    return [ScalarLogger(log_dir)]


def parse_arguments(argv, description, log_dir, epochs, image_size, probe_size):
    """The examples' command line, with each example's defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--log_dir", default=log_dir)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--image_size", type=int, default=image_size)
    parser.add_argument("--probe_size", type=int, default=probe_size)
    return parser.parse_args(argv)


def fit_with_loggers(model, args, **logger_options):
    """Trains `model` on the faces with the examples' callbacks (scalars and
    activations into `args.log_dir`); `logger_options` go to the
    ActivationLogger."""
    (x_train, y_train), (x_val, y_val) = load_faces(args.image_size)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    list_layers(model, probe=x_val[: args.probe_size])
    return model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        batch_size=16,
        verbose=2,
        callbacks=scalar_logger(args.log_dir) + [
            activation_logger(args.log_dir, x_val, y_val, args.probe_size, **logger_options),
        ],
    )


def main(argv=None):
    args = parse_arguments(argv, __doc__.splitlines()[0], "logs/faces", 30, 64, 8)
    keras.utils.set_random_seed(0)
    fit_with_loggers(build_model(args.image_size), args)


if __name__ == "__main__":
    main()
