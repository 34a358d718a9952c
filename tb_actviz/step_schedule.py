"""When the Keras callback logs, and the step of each log."""

from tb_actviz.arguments import positive_int


class StepSchedule:
    """Steps of a training's logs, from Keras's epoch and batch hooks.

    The model is logged once before training (step 0), then after every
    `every_n_epochs` epochs (step = epochs completed) or every `update_freq`
    batches (step = batches completed, counted across fits, as
    `keras.callbacks.TensorBoard` counts them). A later fit goes on from the
    last step logged instead of logging epochs 0, 1, ... again.

    Args:
      update_freq: "epoch", or an integer N to log every N batches.
      every_n_epochs: with "epoch", log every this many epochs.
    """

    def __init__(self, update_freq, every_n_epochs):
        if update_freq != "epoch":
            positive_int("update_freq (or 'epoch')", update_freq)
        self.update_freq = update_freq
        self.every_n_epochs = positive_int("every_n_epochs", every_n_epochs)
        self.unit = "epoch" if update_freq == "epoch" else "batch"
        self.initial_logged = False
        self._batches_done = 0
        self._epoch_start = 0
        self._last_batch = -1
        self._last_logged_batch = None
        self._epoch_offset = 0

    def describe(self):
        """How often logs come, as the first log's line says it."""
        if self.unit == "batch":
            return "every %d batches" % self.update_freq
        return "every epoch" if self.every_n_epochs == 1 else "every %d epochs" % self.every_n_epochs

    def begin_fit(self, completed_batches):
        """A fit begins, after `completed_batches` batches of earlier fits."""
        self.initial_logged = False
        self._batches_done = self._epoch_start = completed_batches
        self._last_batch = -1
        self._last_logged_batch = None
        self._epoch_offset = None  # set by the fit's first epoch

    def begin_epoch(self, epoch, last_step):
        """Epoch `epoch` of the fit begins; `last_step` is the last step
        logged by earlier fits (None: none)."""
        self._epoch_start = self._batches_done
        self._last_batch = -1
        if self._epoch_offset is None:
            # As `initial_epoch` does: the fit goes on from its last step.
            last = last_step if self.unit == "epoch" else None
            self._epoch_offset = last - epoch if last is not None and epoch < last else 0

    def begin_batch(self, batch):
        self._last_batch = batch
        self._batches_done = self._epoch_start + batch  # completed before this one

    def end_epoch(self):
        self._batches_done = self._epoch_start + self._last_batch + 1

    def initial_step(self, epoch, last_step):
        """The step of the log before this fit's training (once per fit), or
        None where an earlier fit's last log already shows the model as it
        starts."""
        self.initial_logged = True
        step = epoch + (self._epoch_offset or 0) if self.unit == "epoch" else self._batches_done
        self._last_logged_batch = self._batches_done
        if last_step is not None and step <= last_step:
            return None
        return step

    def batch_step(self):
        """The step to log before this batch (every `update_freq` batches),
        or None."""
        done = self._batches_done
        if self.unit == "batch" and done > 0 and done % self.update_freq == 0 \
                and done != self._last_logged_batch:
            self._last_logged_batch = done
            return done
        return None

    def epoch_end_step(self, epoch):
        """The step to log at the end of epoch `epoch` (after `end_epoch`), or None."""
        if self.unit == "batch":
            return self.batch_step()
        if (epoch + 1) % self.every_n_epochs == 0:
            return epoch + 1 + (self._epoch_offset or 0)
        return None
