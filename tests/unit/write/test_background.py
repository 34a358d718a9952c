"""tb_actviz.write.background: the writer's share-out of encoding work over
its helper threads."""

import numpy as np
import pytest

from tb_actviz.write.background import BackgroundWorker


@pytest.mark.parametrize("count", [0, 1, 2, 5, 49])
def test_map_shares_keeps_order_over_threads(count):
    writer = BackgroundWorker(encode_threads=2)
    try:
        items = np.arange(count)
        assert writer.map_shares(lambda share: [int(v) * 10 for v in share], items) == [
            v * 10 for v in range(count)
        ]
    finally:
        writer.close()


@pytest.mark.parametrize("cost", [None, lambda v: v])
def test_map_shares_encodes_inline_once_the_pool_refuses_work(cost):
    # At interpreter exit concurrent.futures refuses new work; the job in
    # flight must still finish its log.
    writer = BackgroundWorker(encode_threads=2)
    writer._helpers.shutdown()
    try:
        assert writer.map_shares(lambda share: [v * 2 for v in share], [3, 1, 2], cost=cost) == [6, 2, 4]
    finally:
        writer.close()


@pytest.mark.parametrize("count", [0, 1, 2, 3, 16])
def test_map_shares_by_cost_keeps_order_and_balances_the_threads(count):
    writer = BackgroundWorker(encode_threads=2)
    shares = []
    try:
        # resnet18-like: many large layers first, then smaller ones.
        items = [784] * (count // 2) + [196, 49] * (count - count // 2)
        items = items[:count]

        def fn(share):
            shares.append(list(share))
            return [v + 1 for v in share]

        assert writer.map_shares(fn, items, cost=lambda v: v) == [v + 1 for v in items]
        assert sorted(v for share in shares for v in share) == sorted(items)
        assert len(shares) == min(2, count)
        if count >= 2:
            loads = sorted(sum(share) for share in shares)
            assert loads[1] - loads[0] <= max(items)  # greedy, largest first
    finally:
        writer.close()
