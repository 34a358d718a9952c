"""A subclassed Keras model with a custom residual block, logged every epoch.

The faces of `examples/faces.py` (scikit-image's `lfw_subset()`, offline), a
model written the way much of today's Keras code is: layers in attributes,
`def call(self, x)`, a custom `keras.layers.Layer` holding two convolutions,
a `keras.Sequential` head, and a fully convolutional body (`None` input
sizes would work alike). ActivationLogger takes the maps from the model's own
forward pass, so the convolutions inside the block are selected by their
path (`"block/conv_a"`) or by `"conv:k"` in the order `call` runs them.

    python examples/subclassed.py --log_dir logs/subclassed
    tensorboard --logdir logs/subclassed     # then open the Activations tab

Any Keras backend: KERAS_BACKEND=jax (or torch) python examples/subclassed.py.
"""

import keras

from faces import fit_with_loggers, parse_arguments

layers = keras.layers


class ResidualBlock(layers.Layer):
    """x + conv_b(conv_a(x)), then ReLU: two 3x3 convolutions and a skip."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv_a = layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv_a")
        self.conv_b = layers.Conv2D(filters, 3, padding="same", name="conv_b")

    def call(self, x):
        return keras.ops.relu(x + self.conv_b(self.conv_a(x)))


class FaceNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")
        self.block = ResidualBlock(16, name="block")
        self.pool = layers.MaxPooling2D()
        self.widen = layers.Conv2D(32, 3, padding="same", activation="relu", name="widen")
        self.head = keras.Sequential(
            [layers.GlobalAveragePooling2D(), layers.Dropout(0.3), layers.Dense(2, activation="softmax")],
            name="head",
        )

    def call(self, x, training=False):
        x = self.pool(self.block(self.stem(x)))
        return self.head(self.widen(x), training=training)


def main(argv=None):
    args = parse_arguments(argv, __doc__.splitlines()[0], "logs/subclassed", 20, 48, 8)
    keras.utils.set_random_seed(0)
    # list_layers takes its shapes from the probe's forward pass: the model has no Input.
    fit_with_loggers(
        FaceNet(name="facenet"), args,
        layers=["stem", "block/conv_a", "block/conv_b", "block", "widen"],
        attributions="block/conv_b",
    )


if __name__ == "__main__":
    main()
