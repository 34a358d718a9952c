"""One worker of the MultiWorkerMirroredStrategy test (run as a subprocess).

Keras 3.15's `model.fit` fails under MultiWorkerMirroredStrategy before any
callback runs (keras-team/keras#20585: it reduces a PerReplica batch), so this
drives the callback's hooks from a custom training loop, as `fit` would.

Usage: python distributed_worker.py INDEX PORT0 PORT1 LOG_DIR
"""

import json
import os
import sys


def main():
    index, port0, port1, log_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": ["127.0.0.1:" + port0, "127.0.0.1:" + port1]},
            "task": {"type": "worker", "index": index},
        }
    )
    import keras
    import tensorflow as tf

    import strategy_case
    from tb_actviz import ActivationLogger

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x, y = strategy_case.data()
    with strategy.scope():
        model = strategy_case.model()
        optimizer = keras.optimizers.SGD(0.1)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="sum_over_batch_size"
        )
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    )

    @tf.function
    def train_step(batch_x, batch_y):
        def step(bx, by):
            with tf.GradientTape() as tape:
                loss = loss_fn(by, model(bx, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))

        strategy.run(step, args=(batch_x, batch_y))

    callback = ActivationLogger(log_dir, probe=x[:4], verbose=0)
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        for batch_x, batch_y in dataset:
            train_step(batch_x, batch_y)
        callback.on_epoch_end(epoch)
    callback.on_train_end()
    print(json.dumps({"worker": index, "traces": callback.trace_count}))


if __name__ == "__main__":
    main()
