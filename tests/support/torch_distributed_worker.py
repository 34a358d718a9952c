"""One process of the 2-process PyTorch test (run as a subprocess, KERAS_BACKEND=torch).

Joins a 2-rank gloo `torch.distributed` process group on 127.0.0.1, then runs
a real `model.fit` with `ActivationLogger` on the log dir shared with the
other rank. Keras does not synchronize gradients across ranks by itself; this
is about who writes, not about the training. Both ranks meet at a barrier
after `fit`, so each logger ran while the other process was alive. Prints one
JSON line: who it is and what the logger did.

Usage: python torch_distributed_worker.py RANK PORT LOG_DIR
"""

import datetime
import json
import os
import sys


def main():
    rank, port, log_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    import torch.distributed as dist

    dist.init_process_group(
        "gloo",
        init_method="tcp://127.0.0.1:" + port,
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=60),  # bounds the barrier too
    )
    import keras

    import strategy_case
    from tb_actviz.capture import backends

    assert keras.backend.backend() == "torch", keras.backend.backend()
    model, callback = strategy_case.fit_with_logger(log_dir)
    result = {
        "rank": dist.get_rank(),
        "world_size": dist.get_world_size(),
        "chief": backends.is_chief(model),
        # 0 on both ranks: PyTorch runs the log pipeline eagerly, so who
        # wrote shows in the event file's name (the writer's pid).
        "traces": callback.trace_count,
        "pid": os.getpid(),
    }
    dist.barrier()
    dist.destroy_process_group()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
