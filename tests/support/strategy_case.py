"""The model and data every distributed test trains (tf.distribute, JAX
multi-process, torch.distributed), imported by the worker scripts after their
strategy or process group is set up."""

import keras
import numpy as np


def data():
    rng = np.random.default_rng(0)
    return rng.random((32, 16, 16, 3), dtype=np.float32), rng.integers(0, 2, 32)


def model():
    """Build inside the strategy's scope."""
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, name="c1"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )


def fit_with_logger(log_dir):
    """`model.fit` of the case for 2 epochs with an ActivationLogger on
    `log_dir` (the JAX and torch workers); returns (model, logger)."""
    from tb_actviz import ActivationLogger

    x, y = data()
    trained = model()
    trained.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logger = ActivationLogger(log_dir, probe=x[:4], verbose=0)
    trained.fit(x, y, epochs=2, batch_size=8, callbacks=[logger], verbose=0)
    return trained, logger
