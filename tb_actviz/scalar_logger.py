"""ScalarLogger: Keras's loss and metric curves as TensorBoard scalars, no TensorFlow."""

import logging
import os
import sys
import time

import keras
import numpy as np

from tensorboard.compat.proto import event_pb2

from tb_actviz import remote_files
from tb_actviz.capture import backends
from tb_actviz.write import scalar_run_writer
from tb_actviz.write import summary_v2

logger = logging.getLogger("tb_actviz")

TRAIN_RUN = "train"
VALIDATION_RUN = "validation"


def _scalar_events(logs, step, tag_of):
    """One event per log value that is a number; others (a per-class array,
    a string) are left out."""
    wall_time = time.time()
    events = []
    for name, value in logs.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        events.append(event_pb2.Event(
            wall_time=wall_time, step=step, summary=summary_v2.scalar_pb(tag_of(name), value)))
    return events


def _learning_rates(model):
    """The optimizer's learning rate(s) as `keras.callbacks.TensorBoard` logs
    them: `learning_rate`, or `learning_rate_<name>` per optimizer of a
    multi-optimizer; none for an optimizer that is no Keras `Optimizer`."""
    optimizer = getattr(model, "optimizer", None)
    if hasattr(optimizer, "inner_optimizer"):  # LossScaleOptimizer
        optimizer = optimizer.inner_optimizer
    if hasattr(optimizer, "optimizers"):
        return {
            "learning_rate_%s" % opt.name: float(keras.ops.convert_to_numpy(opt.learning_rate))
            for opt in optimizer.optimizers
        }
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return {"learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate))}
    return {}


def _keras_tensorboard_beside(callback):
    """A `keras.callbacks.TensorBoard` in the `CallbackList` that is calling
    `callback`'s hook right now, or None.

    Keras gives a callback no handle on its list: the list is found among the
    callers' frames (`CallbackList.on_train_begin`'s `self`). A hook called
    some other way (by hand, by another container) finds none.
    """
    try:
        frame = sys._getframe(2)
    except (AttributeError, ValueError):
        return None
    for _ in range(8):
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList):
            siblings = list(getattr(owner, "callbacks", ()))
            if any(c is callback for c in siblings):
                return next(
                    (c for c in siblings if isinstance(c, keras.callbacks.TensorBoard)), None)
        frame = frame.f_back
    return None


class ScalarLogger(keras.callbacks.Callback):
    """Writes the loss and metrics of `fit` as TensorBoard scalars, on every backend.

    `keras.callbacks.TensorBoard` needs TensorFlow, on every Keras backend:
    without it a JAX or PyTorch training has no loss or accuracy curves in
    TensorBoard. This callback writes the scalars that callback writes, with
    tb_actviz's own event file writer and no TensorFlow, into the same runs
    (`<log_dir>/train` and `<log_dir>/validation`), so the Scalars and Time
    Series tabs show them beside the activations of an `ActivationLogger` on
    the same `log_dir`:

    - `<log_dir>/train`: `epoch_<name>` at step `epoch` (0-based) for every
      training log (`epoch_loss`, `epoch_accuracy`, ...), and
      `epoch_learning_rate` (`epoch_learning_rate_<optimizer name>` for
      several optimizers); with `update_freq=N`, `batch_<name>` every N
      batches, at step = batches of this `fit` so far (1-based).
    - `<log_dir>/validation`: `epoch_<name>` of the validation logs, their
      `val_` prefix removed; `evaluation_<name>_vs_iterations` at step =
      the optimizer's iterations, at the end of each evaluation (the
      validation of `fit`, or `model.evaluate` with this callback).

    Unlike `keras.callbacks.TensorBoard` with an integer `update_freq` N > 1
    (Keras 3.15), whose "every N batches" condition also drops some epoch
    and evaluation scalars (those written while the batch count is no
    multiple of N), every epoch's scalars are written. Log values that are
    no numbers (a per-class array) are left out.

    If a `keras.callbacks.TensorBoard` is among the callbacks of the same
    `fit`, it writes these scalars and this callback writes nothing (saying
    so once). Writes run on a background thread (batch scalars at most once
    per second, every 10 s for a remote `log_dir`, and at every epoch end).
    A fault while writing (a removed or unwritable directory, a full disk)
    is a warning: training goes on, and scalar logging stops after 3
    failures in a row. In distributed training only one process writes (the
    tf.distribute chief, JAX process 0, torch.distributed rank 0).

    Args:
        log_dir: the directory of the logs, as for `keras.callbacks.TensorBoard`
            and `ActivationLogger`: a local path (`file:///abs/path` is that
            path), or a remote one (`s3://bucket/prefix`) without `.`, `..`
            or repeated slashes.
        update_freq: `"epoch"` (the default): write after every epoch. An
            integer N: also write the batch logs every N batches. `"batch"`
            is a synonym for 1. The batch scalars have a cost: Keras then
            converts every batch's logs to Python numbers on the training
            thread (a device sync per batch), as it does for
            `keras.callbacks.TensorBoard` whatever its `update_freq`; with
            `"epoch"` this callback has no batch hook at all.

    Raises:
        ValueError: `log_dir` is no directory path (or a remote path with
            `.`, `..` or repeated slashes, or of a store no installed package
            reaches), or `update_freq` is neither `"epoch"`, `"batch"` nor a
            positive integer.

    Example:

    ```python
    from tb_actviz import ActivationLogger, ScalarLogger

    model.fit(
        x_train, y_train, epochs=20, validation_data=(x_val, y_val),
        callbacks=[
            ScalarLogger("logs/run1"),  # loss and accuracy, no TensorFlow needed
            ActivationLogger("logs/run1", probe=(x_val[:8], y_val[:8])),
        ],
    )
    # Then: tensorboard --logdir logs
    ```
    """

    def __init__(self, log_dir, update_freq="epoch"):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError("ScalarLogger: log_dir= must be a directory path, got %r" % (log_dir,))
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            isinstance(update_freq, bool)
            or not isinstance(update_freq, (int, np.integer))
            or update_freq < 1
        ):
            raise ValueError(
                "ScalarLogger: update_freq= must be 'epoch', 'batch' or a positive integer "
                "(write the batch logs every N batches), got %r" % (update_freq,))
        # file:///abs is the local path; a remote path with ../ or // is refused.
        self.log_dir = remote_files.log_dir_path(log_dir)
        if remote_files.is_remote(self.log_dir):
            remote_files.check_reachable(self.log_dir)  # names what to install
        self.update_freq = update_freq if update_freq == "epoch" else int(update_freq)
        self.train_dir = os.path.join(self.log_dir, TRAIN_RUN)
        self.validation_dir = os.path.join(self.log_dir, VALIDATION_RUN)
        if self.update_freq != "epoch":
            # Only now a batch end hook: Keras checks whether a callback
            # overrides one (`keras.src.utils.is_default`) and, if any does,
            # converts every batch's logs to Python numbers on the training
            # thread instead of dispatching them to a thread of its own.
            self.on_train_batch_end = self._on_train_batch_end
        self._writer = None
        self._training = False
        self._batches = 0
        self._told_of_tensorboard = False

    # Keras hooks -----------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._close()
        self._training = True
        self._batches = 0
        self._open()

    def on_train_end(self, logs=None):
        self._training = False
        self._close()

    def on_test_begin(self, logs=None):
        if not self._training:  # model.evaluate with this callback
            self._close()
            self._open()

    def on_test_end(self, logs=None):
        writer = self._writer
        if writer is not None and logs:
            try:
                optimizer = self.model.optimizer
                iterations = getattr(optimizer, "iterations", None) if optimizer else None
                if iterations is not None:
                    step = int(keras.ops.convert_to_numpy(iterations))
                    writer.add(VALIDATION_RUN, _scalar_events(
                        logs, step, lambda name: "evaluation_%s_vs_iterations" % name))
            except Exception as e:  # noqa: BLE001 - a logging fault must not cost the training run
                logger.warning("tb_actviz: ScalarLogger could not read the evaluation's "
                               "logs (%s: %s); training goes on.", type(e).__name__, e)
        if not self._training:
            self._close()

    def on_epoch_end(self, epoch, logs=None):
        writer = self._writer
        if writer is None or not logs:
            return
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        try:
            train.update(_learning_rates(self.model))
        except Exception as e:  # noqa: BLE001 - a logging fault must not cost the training run
            logger.warning("tb_actviz: ScalarLogger could not read the learning rate "
                           "(%s: %s); training goes on.", type(e).__name__, e)
        writer.add(TRAIN_RUN, _scalar_events(train, epoch, lambda name: "epoch_" + name))
        writer.add(VALIDATION_RUN, _scalar_events(validation, epoch, lambda name: "epoch_" + name))
        writer.submit()

    def _on_train_batch_end(self, batch, logs=None):
        """`on_train_batch_end`, set in `__init__` for an integer `update_freq` only."""
        self._batches += 1
        writer = self._writer
        if writer is None or self._batches % self.update_freq or not isinstance(logs, dict):
            return
        writer.add(TRAIN_RUN, _scalar_events(logs, self._batches, lambda name: "batch_" + name))
        writer.submit_if_due()

    def flush(self):
        """Waits until the scalars of the epochs ended so far are written
        (or their failure is warned about). Call it to read a log dir while
        training goes on."""
        if self._writer is not None:
            self._writer.submit()
            self._writer.collect()

    def __del__(self):
        # At interpreter exit the event files close themselves.
        if not sys.is_finalizing():
            self._close()

    # ------------------------------------------------------------------------

    def _open(self):
        """Starts a writer for this fit (or evaluate), unless another process
        writes or a `keras.callbacks.TensorBoard` writes these scalars."""
        tensorboard = _keras_tensorboard_beside(self)
        if tensorboard is not None:
            if not self._told_of_tensorboard:
                self._told_of_tensorboard = True
                logger.warning(
                    "tb_actviz: ScalarLogger writes nothing: keras.callbacks.TensorBoard "
                    "(log_dir %r) among the same callbacks writes these scalars.",
                    getattr(tensorboard, "log_dir", None))
            return
        if not backends.is_chief(self.model):
            return  # in distributed training one process writes
        self._writer = scalar_run_writer.ScalarRunWriter(
            {TRAIN_RUN: self.train_dir, VALIDATION_RUN: self.validation_dir},
            remote=remote_files.is_remote(self.log_dir),
        )

    def _close(self):
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            writer.close()
