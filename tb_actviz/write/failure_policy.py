"""What a fault while logging costs: a warning, never the training run."""

import logging

logger = logging.getLogger("tb_actviz")

# Logging turns itself off after this many failed logs in a row.
MAX_CONSECUTIVE_FAILURES = 3


class FailurePolicy:
    """Counts failed logs; warns for each, and gives up after a few in a row.

    A failure is anything that lost a log (an I/O error, a removed
    directory, an error in the probe's forward pass): it is reported with
    what was lost, the next log retries, and after `limit` failures in a row
    logging is off for the rest of the training, which goes on.

    Args:
      limit: failures in a row that turn logging off.
      subject: what is turned off, as the warning names it.
      action: what failed, before what was lost ("log" step 3).
    """

    def __init__(self, limit=MAX_CONSECUTIVE_FAILURES, subject="activation logging", action="log"):
        self.limit = limit
        self.subject = subject
        self.action = action
        self.in_a_row = 0
        self.disabled = False

    def succeeded(self):
        self.in_a_row = 0

    def failed(self, lost, error):
        """Counts one failure. `lost`: the step (an int) or a description of
        what was lost; `error`: the exception, or a description of it."""
        lost = "step %d" % lost if isinstance(lost, int) else lost
        error = "%s: %s" % (type(error).__name__, error) if isinstance(error, BaseException) else error
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            self.disabled = True
            logger.warning(
                "tb_actviz: %s failed %d times in a row (the last: %s, %s); %s is off for "
                "the rest of this training, which goes on.",
                self.subject, self.in_a_row, lost, error, self.subject,
            )
        else:
            logger.warning(
                "tb_actviz: could not %s %s (%s); training goes on, the next log will retry.",
                self.action, lost, error,
            )
