"""The seed recipe's case: VGG16 nested in a classifier, first and last conv layer.

The classic tutorial builds `Model(vgg16.input, vgg16.layers[1].output)` and
`layers[-2]`, predicts on face images and draws matplotlib grids once, after
training. Here VGG16 (`weights=None`: nothing is downloaded) sits inside a
faces-vs-non-faces classifier, as in transfer learning, and the same two layers
are logged every epoch: `"vgg16/1"` is `vgg16.layers[1]` (block1_conv1),
`"vgg16/-2"` is `vgg16.layers[-2]` (block5_conv3). The images are fed as the
recipe feeds VGG16, through `vgg16.preprocess_input` (0..255 RGB to BGR with
the ImageNet means subtracted); `probe_display=` gives the probe panel and the
overlays the pictures themselves rather than that array.

    python examples/seed_vgg16.py --log_dir logs/seed_vgg16
    tensorboard --logdir logs/seed_vgg16
"""

import keras
import numpy as np

from tb_actviz import ActivationLogger, list_layers

import faces


def build_classifier(image_size):
    base = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(image_size, image_size, 3)
    )
    inputs = keras.Input((image_size, image_size, 3))
    x = base(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="face_classifier")


def main(argv=None):
    # 128 px gives block5_conv3 maps of 8x8; 224 (the recipe's) gives 14x14.
    args = faces.parse_arguments(argv, __doc__.splitlines()[0], "logs/seed_vgg16", 3, 128, 8)

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_val, y_val) = faces.load_faces(args.image_size)
    x_train, x_val = (np.repeat(x, 3, axis=-1) for x in (x_train, x_val))  # gray 0..1 as RGB
    pictures = x_val[: args.probe_size]
    # What VGG16 takes, as the recipe prepares it (caffe mode: BGR, ImageNet means subtracted).
    x_train, x_val = (keras.applications.vgg16.preprocess_input(255.0 * x) for x in (x_train, x_val))
    model = build_classifier(args.image_size)
    model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    list_layers(model)
    model.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=16,
        verbose=2,
        callbacks=faces.scalar_logger(args.log_dir) + [
            ActivationLogger(
                args.log_dir,
                probe=(x_val[: args.probe_size], y_val[: args.probe_size]),
                layers=["vgg16/1", "vgg16/-2"],
                probe_display=pictures,  # float 0..1; or "caffe", its inverse
                class_names=["not face", "face"],
            ),
        ],
    )


if __name__ == "__main__":
    main()
