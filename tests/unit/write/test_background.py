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


def test_map_shares_encodes_inline_once_the_pool_refuses_work():
    # At interpreter exit concurrent.futures refuses new work; the job in
    # flight must still finish its log.
    writer = BackgroundWorker(encode_threads=2)
    writer._helpers.shutdown()
    try:
        assert writer.map_shares(lambda share: list(share), [1, 2, 3]) == [1, 2, 3]
    finally:
        writer.close()
