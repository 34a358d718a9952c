"""MirroredStrategy over 2 logical CPU devices with a real `fit` (subprocess:
logical devices must be set before TensorFlow initializes).

Usage: python mirrored_worker.py LOG_DIR
"""

import json
import sys


def main():
    log_dir = sys.argv[1]
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import numpy as np

    import strategy_case
    from tb_actviz import ActivationLogger

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = strategy_case.data()
    with strategy.scope():
        model = strategy_case.model()
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = ActivationLogger(log_dir, probe=x[:4], verbose=0)
    model.fit(x, y, epochs=2, batch_size=8, callbacks=[callback], verbose=0)
    # The probe's maps as the model computes them now, to compare with the log.
    sub = keras.Model(model.inputs, model.get_layer("c1").output)
    np.save(log_dir + "/final_c1.npy", np.asarray(sub(x[:4])))
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "traces": callback.trace_count}))


if __name__ == "__main__":
    main()
