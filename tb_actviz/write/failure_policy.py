"""What a fault while logging costs: a warning, never the training run."""

import logging

logger = logging.getLogger("tb_actviz")

# Logging turns itself off after this many failed logs in a row.
MAX_CONSECUTIVE_FAILURES = 3


class FailurePolicy:
    """Counts failed logs; warns for each, and gives up after a few in a row.

    A failure is anything that lost a log (an I/O error, a removed
    directory, an error in the probe's forward pass): it is reported with its
    step, the next log retries, and after `limit` failures in a row logging
    is off for the rest of the training, which goes on.
    """

    def __init__(self, limit=MAX_CONSECUTIVE_FAILURES):
        self.limit = limit
        self.in_a_row = 0
        self.disabled = False

    def succeeded(self):
        self.in_a_row = 0

    def failed(self, step, error):
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            self.disabled = True
            logger.warning(
                "tb_actviz: logging failed %d times in a row (last at step %d: %s); "
                "activation logging is off for the rest of this training, which goes on.",
                self.in_a_row, step, error,
            )
        else:
            logger.warning(
                "tb_actviz: could not log step %d (%s: %s); training goes on, "
                "the next log will retry.", step, type(error).__name__, error,
            )
