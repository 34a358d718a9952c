"""One process of the 2-process JAX test (run as a subprocess, KERAS_BACKEND=jax).

Joins a 2-process `jax.distributed` cluster on 127.0.0.1 (CPU; JAX 0.10's
default CPU collectives are gloo, and the logger needs no collective), then
runs a real `model.fit` with `ActivationLogger` on the log dir shared with the
other process. Prints one JSON line: who it is and what the logger did.

Usage: python jax_distributed_worker.py INDEX PORT LOG_DIR
"""

import json
import os
import sys


def main():
    index, port, log_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    import jax

    jax.distributed.initialize(
        coordinator_address="127.0.0.1:" + port,
        num_processes=2,
        process_id=index,
        # Bounded waits: joining, and the barrier at exit (the test's own
        # timeout bounds the rest).
        initialization_timeout=60,
        shutdown_timeout_seconds=60,
    )
    import keras

    import strategy_case
    from tb_actviz.capture import backends

    assert keras.backend.backend() == "jax", keras.backend.backend()
    model, callback = strategy_case.fit_with_logger(log_dir)
    print(
        json.dumps(
            {
                "process_index": jax.process_index(),
                "process_count": jax.process_count(),
                "global_devices": len(jax.devices()),
                "chief": backends.is_chief(model),
                "traces": callback.trace_count,
                "pid": os.getpid(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
