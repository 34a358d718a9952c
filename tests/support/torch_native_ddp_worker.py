"""Two gloo processes train a DistributedDataParallel CNN for 2 epochs, each
calling `tb_actviz.torch.ActivationLogger.log(ddp_model, epoch)`: rank 0
writes (on `.module`), rank 1 returns at once; a barrier after every epoch
proves that no rank waits on the other's probe pass.

Usage: python torch_native_ddp_worker.py LOG_ROOT
"""

import os
import socket
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 6, 3), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, 3),
    )


def worker(rank, world_size, port, root):
    import datetime

    import tb_actviz.torch as tbt

    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=60))
    model = torch.nn.parallel.DistributedDataParallel(small_cnn())
    g = torch.Generator().manual_seed(rank)
    x, y = torch.rand(8, 3, 16, 16, generator=g), torch.arange(8) % 3
    probe = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    optimizer = torch.optim.SGD(model.parameters(), 0.05)
    logger = tbt.ActivationLogger(os.path.join(root, "run"), probe, layers=["module.0", "3"],
                                  verbose=0)
    logger.log(model, 0)
    for epoch in (1, 2):
        model.train()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        logger.log(model, epoch)
        dist.barrier()
    logger.close()
    dist.destroy_process_group()
    print("rank %d done" % rank, flush=True)


def main():
    root = sys.argv[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(worker, args=(2, port, root), nprocs=2, join=True, start_method="spawn")


if __name__ == "__main__":
    main()
