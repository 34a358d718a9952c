"""tb_actviz for the Hugging Face Trainer: `ActivationLogger`, a
`transformers.TrainerCallback`.

It composes `tb_actviz.torch.ActivationLogger` (which runs the probe and
writes the log) with the Trainer's loop: when to log, where the run is, and
which process writes.
"""

import math
import os
import sys

try:
    import transformers
except ModuleNotFoundError as _e:  # pragma: no cover - depends on the environment
    if _e.name != "transformers":
        raise
    raise ImportError(
        "tb_actviz.transformers needs Hugging Face transformers: pip install transformers "
        "accelerate (from a clone of tb_actviz, pip install '.[hf-trainer]'). Without it, "
        "tb_actviz.torch.ActivationLogger logs a plain training loop."
    ) from _e

from tb_actviz.torch import logger as torch_logger
from tb_actviz.torch import modules

__all__ = ["ActivationLogger", "trainer_tensorboard_dir"]

STEPS = ("global_step", "epoch")
_EPSILON = 1e-6  # TrainerState.epoch is a float sum of batch fractions


def _default_logdir():
    try:
        from transformers.integrations.integration_utils import default_logdir
    except ImportError:  # pragma: no cover - transformers versions without it
        import socket
        from datetime import datetime

        return os.path.join(
            "runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname())
    return default_logdir()


def _tensorboard_callbacks(callback):
    """The Trainer's `TensorBoardCallback`s, found through the
    `CallbackHandler` that is calling `callback` (a `TrainerCallback` hook is
    given no handle on the Trainer or its other callbacks); [] where the hook
    is called otherwise."""
    from transformers.integrations import TensorBoardCallback
    from transformers.trainer_callback import CallbackHandler

    frame = sys._getframe(1)
    for _ in range(8):
        if frame is None:
            break
        handler = frame.f_locals.get("self")
        if isinstance(handler, CallbackHandler) and any(c is callback for c in handler.callbacks):
            return [c for c in handler.callbacks if isinstance(c, TensorBoardCallback)]
        frame = frame.f_back
    return []


def trainer_tensorboard_dir(args, state, tensorboard_callbacks=()):
    """The run the Trainer's TensorBoard scalars go to, resolved as its own
    `TensorBoardCallback` does.

    Args:
      args: the Trainer's `TrainingArguments`.
      state: its `TrainerState` (for a hyperparameter search's trial name).
      tensorboard_callbacks: the Trainer's `TensorBoardCallback`s, if any:
        the first one's directory, once it has one, is the answer.

    Returns:
      In this order: the directory of the Trainer's `TensorBoardCallback`
      (its writer's, or the `logging_dir` it resolved at train begin); the
      `TENSORBOARD_LOGGING_DIR` environment variable (user-expanded); for a
      hyperparameter search trial, `<output_dir>/runs/<time>_<host>/<trial>`;
      `args.logging_dir` where the installed transformers has it (4.x);
      else `<output_dir>/runs/<time>_<host>` (transformers 5's default).
    """
    for callback in tensorboard_callbacks:
        writer = getattr(callback, "tb_writer", None)
        path = getattr(writer, "log_dir", None) or getattr(writer, "logdir", None)
        path = path or getattr(callback, "logging_dir", None)
        if path:
            return str(path)
    path = os.getenv("TENSORBOARD_LOGGING_DIR")
    if path:
        return os.path.expanduser(path)
    trial = getattr(state, "trial_name", None)
    if getattr(state, "is_hyper_param_search", False) and trial is not None:
        return os.path.join(args.output_dir, _default_logdir(), trial)
    if getattr(args, "logging_dir", None):
        return str(args.logging_dir)
    return os.path.join(args.output_dir, _default_logdir())


def _share_run(tensorboard_callbacks, run_dir):
    """A `TensorBoardCallback` called after this callback (added after it)
    has not chosen its directory yet: it is given the one just resolved,
    which it would have computed too but for its `<time>` part, a second
    later perhaps."""
    for callback in tensorboard_callbacks:
        if (getattr(callback, "tb_writer", None) is None and hasattr(callback, "logging_dir")
                and callback.logging_dir is None):
            callback.logging_dir = run_dir


def _check_distributed(args, model):
    """Set-ups whose forward passes need every process are refused, on every
    process (so none is left waiting): the probe runs on process zero only."""
    deepspeed_zero3 = False
    if getattr(args, "deepspeed", None):
        from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

        deepspeed_zero3 = is_deepspeed_zero3_enabled()
    if getattr(args, "fsdp", None) or deepspeed_zero3:
        what = "DeepSpeed ZeRO stage 3" if deepspeed_zero3 else "FSDP"
        raise ValueError(
            "tb_actviz.transformers.ActivationLogger cannot log a model trained with %s: its "
            "forward passes gather parameters from every process, and the probe runs on "
            "process zero only, so the others would hang. Train with DDP (or DeepSpeed ZeRO "
            "stage 1/2), or log an unsharded copy of the model with "
            "tb_actviz.torch.ActivationLogger" % what)
    modules.unwrap(model)  # tb_actviz.torch refuses a model sharded with FSDP


class ActivationLogger(transformers.TrainerCallback):
    """Logs the feature maps of chosen modules of a model trained by the
    Hugging Face `Trainer`, for a fixed probe batch, into the Activations
    tab of TensorBoard.

    Logs at train begin (the model before training) and at the end of each
    epoch. `step="global_step"` (the default) numbers the logs by
    `state.global_step`, the optimizer steps done, as the Trainer's own
    TensorBoard scalars are numbered (the tab says "batch"); `step="epoch"`
    numbers them by epochs done (0, 1, 2, ...; an epoch cut short by
    `max_steps` counts as done). A training resumed from a checkpoint starts
    from its checkpoint's step. Each log is one eager pass of the probe
    through the model (`kwargs["model"]`, the unwrapped model), in eval
    mode, that leaves the model as it found it: `tb_actviz.torch.
    ActivationLogger` does the logging and says more. A model returning a
    `ModelOutput` (`.logits`, `.loss`) is fine: maps come from its modules.

    The log goes where the Trainer's TensorBoard scalars go, resolved as
    its `TensorBoardCallback` does (`trainer_tensorboard_dir`): with
    `report_to="tensorboard"`, into the very run of the Trainer's scalars;
    otherwise `TENSORBOARD_LOGGING_DIR`, or `<output_dir>/runs/<time>_<host>`
    (transformers 5); unless `log_dir` is given. Only the world process
    zero (`state.is_world_process_zero`) runs the probe and writes; the
    other processes do nothing. FSDP and DeepSpeed ZeRO-3, whose forward
    passes need every process, are refused at train begin on every process.

    Args:
      probe: the fixed batch: a tensor or array of model inputs (for vision
        models, `pixel_values`, N x C x H x W), an `(x, y)` tuple (labels
        are shown beside the images), a list of positional inputs, or a dict
        of keyword arguments of `forward` (`{"pixel_values": x}`).
      layers: what to log: module names as `named_modules()` gives them
        (`"resnet.encoder.stages.3.layers.1.layer.1.convolution"`),
        `"conv:k"`, globs, modules of the model, or a list of these (see
        `tb_actviz.torch.ActivationLogger`;
        `tb_actviz.torch.list_layers(model, probe)` prints every choice).
        Default: the convolution modules, at most `max_layers` of them (a
        ViT has one: its patch embedding).
      log_dir: the run to write into (a local path, `file:///abs/path` or
        `s3://bucket/prefix`) instead of the Trainer's TensorBoard run.
      step: `"global_step"` (default) or `"epoch"`: what the step counts.
      **options: `tb_actviz.torch.ActivationLogger`'s other options, passed
        through: `max_filters`, `max_images`, `max_map_size`, `max_layers`,
        `class_names`, `kernels`, `attributions`, `probe_display`,
        `image_grids`, `verbose`.

    Example:

    ```python
    from transformers import Trainer, TrainingArguments
    from tb_actviz.transformers import ActivationLogger

    trainer = Trainer(
        model=model,  # e.g. a ResNetForImageClassification
        args=TrainingArguments("out", num_train_epochs=10, report_to="tensorboard"),
        train_dataset=train_set,
        callbacks=[ActivationLogger(probe=pixel_values[:8], probe_display="torch")],
    )
    trainer.train()
    # Then: tensorboard --logdir out/runs
    ```
    """

    def __init__(self, probe, layers=None, log_dir=None, step="global_step", **options):
        if step not in STEPS:
            raise ValueError(
                "step= must be 'global_step' (optimizer steps done) or 'epoch' (epochs done), "
                "got %r" % (step,))
        if log_dir is not None and not str(log_dir):
            raise ValueError("log_dir= must be a directory path or None, got %r" % (log_dir,))
        torch_logger.check_callback_options(
            options, "tb_actviz.transformers.ActivationLogger", "probe, layers, log_dir, step",
            "step='global_step' (the default: step = optimizer steps done) or step='epoch' "
            "(step = epochs done) says what a step counts")
        self.probe = probe
        self.layers = layers
        self.log_dir = log_dir
        self.step = step
        self.options = options
        self.logger = None  # this training's tb_actviz.torch.ActivationLogger (process zero)
        self.run_dir = None  # where it writes
        self._tensorboard_dir = None  # resolved once, as TensorBoardCallback does

    # TrainerCallback hooks -------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._close()
        if model is None:
            raise ValueError(
                "tb_actviz.transformers.ActivationLogger: the Trainer passed no model to "
                "on_train_begin; pass the callback to a transformers.Trainer(model=...)")
        _check_distributed(args, model)  # on every process
        if not state.is_world_process_zero:
            return
        run_dir = self.log_dir
        if run_dir is None:
            trial = getattr(state, "is_hyper_param_search", False)
            if self._tensorboard_dir is None or trial:
                tensorboard_callbacks = _tensorboard_callbacks(self)
                self._tensorboard_dir = trainer_tensorboard_dir(args, state, tensorboard_callbacks)
                _share_run(tensorboard_callbacks, self._tensorboard_dir)
            run_dir = self._tensorboard_dir
        self.run_dir = str(run_dir)
        self.logger = torch_logger.ActivationLogger(
            self.run_dir, self.probe, layers=self.layers,
            step_unit="epoch" if self.step == "epoch" else "batch", **self.options)
        self.logger.schedule = "at every epoch's end"
        self._log(model, self._step(state, at_epoch_end=False))

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if model is not None:
            self._log(model, self._step(state, at_epoch_end=True))

    def on_train_end(self, args, state, control, **kwargs):
        self._close()

    # Logging -------------------------------------------------------------

    def _step(self, state, at_epoch_end):
        if self.step == "global_step":
            return int(state.global_step)
        epoch = float(state.epoch or 0)
        # At an epoch's end, the epoch it was in (a cut-short one counts);
        # at train begin, the epochs done.
        return math.ceil(epoch - _EPSILON) if at_epoch_end else math.floor(epoch + _EPSILON)

    def _log(self, model, step):
        if self.logger is not None:  # the world process zero
            self.logger.log_if_new(model, step)  # none when no optimizer step came since

    def _close(self):
        logger, self.logger = self.logger, None
        if logger is not None:
            logger.close()
