"""tb_actviz for PyTorch Lightning: `ActivationLogger`, a Lightning callback.

It composes `tb_actviz.torch.ActivationLogger` (which runs the probe and
writes the log) with Lightning's training loop: when to log, where the run
is, and which process writes.

`ActivationLogger` derives from `lightning.pytorch.Callback`, or from
`pytorch_lightning.Callback` where only the `pytorch_lightning` package is
installed. Where both are installed and the training uses
`pytorch_lightning.Trainer`, use `PyTorchLightningActivationLogger` (same
arguments): it is a `Callback` of both packages. (`pytorch_lightning`
2.6's Trainer calls the hooks of a `lightning.pytorch.Callback` too, by
name, but code that checks `isinstance(c, pytorch_lightning.Callback)`
would pass it over.)
"""

try:
    import lightning.pytorch as _pl
except ModuleNotFoundError as _e:  # pragma: no cover - depends on the environment
    if _e.name not in ("lightning", "lightning.pytorch"):
        raise
    try:
        import pytorch_lightning as _pl
    except ModuleNotFoundError as _e2:
        if _e2.name != "pytorch_lightning":
            raise
        raise ImportError(
            "tb_actviz.lightning needs PyTorch Lightning: pip install lightning (or "
            "pytorch-lightning; from a clone of tb_actviz, pip install '.[lightning]'). Without "
            "Lightning, tb_actviz.torch.ActivationLogger logs a plain training loop."
        ) from _e2

from tb_actviz.arguments import positive_int
from tb_actviz.torch import logger as torch_logger
from tb_actviz.torch import modules

# PyTorchLightningActivationLogger is made on first use (module __getattr__).
__all__ = ["ActivationLogger"]

def _is_tensorboard_logger(logger):
    return any(c.__name__ == "TensorBoardLogger" for c in type(logger).__mro__)


def _trainer_run_dir(trainer):
    """The run the trainer's loggers write: the first `TensorBoardLogger`'s
    `log_dir` (`save_dir/name/version_k`), else the first logger's that has
    one (a `CSVLogger`'s), else None."""
    loggers = list(getattr(trainer, "loggers", None) or [])
    for logger in sorted(loggers, key=lambda l: not _is_tensorboard_logger(l)):
        log_dir = getattr(logger, "log_dir", None)
        if log_dir:
            return str(log_dir)
    return None


def _check_strategy(trainer):
    """Strategies whose forward passes need every rank are refused, on every
    rank (so no rank is left waiting): the probe runs on the writing rank
    only."""
    strategy = trainer.strategy
    kind = type(strategy).__name__
    if kind == "ModelParallelStrategy" or (
            kind == "DeepSpeedStrategy" and getattr(strategy, "zero_stage_3", False)):
        what = "DeepSpeed ZeRO stage 3" if kind == "DeepSpeedStrategy" else kind
        raise ValueError(
            "tb_actviz.lightning.ActivationLogger cannot log under %s: its forward passes "
            "gather parameters from every rank, and the probe runs on rank 0 only, so the "
            "other ranks would hang. Train with strategy='ddp' (or DeepSpeed ZeRO stage 1/2), "
            "or log an unsharded copy of the model with tb_actviz.torch.ActivationLogger"
            % what)
    # FSDP (strategy='fsdp', or modules sharded in configure_model) is refused
    # by tb_actviz.torch on the wrapped model, with what would work.
    modules.unwrap(trainer.model if trainer.model is not None else trainer.lightning_module)


class ActivationLogger(_pl.Callback):
    """Logs the feature maps of chosen modules of a `LightningModule` for a
    fixed probe batch, every epoch, into the Activations tab of TensorBoard.

    Step 0 is the model before training, logged when training starts (after
    the sanity check, which is never logged); then, after every
    `every_n_epochs` epochs (after that epoch's validation), step = epochs
    completed (`trainer.current_epoch + 1`). A fit resumed from a
    checkpoint starts from the epochs its checkpoint completed. Each log is
    one eager pass of the probe through the `LightningModule` (its
    `forward`), in eval mode, that leaves the module as it found it:
    `tb_actviz.torch.ActivationLogger` does the logging and says more.

    The log goes into the run of the trainer's TensorBoard logger (its
    `log_dir`, `save_dir/name/version_k`, which is `trainer.logger.log_dir`
    with the default logger; so `self.log(...)` scalars show beside the
    activations), or, without a `TensorBoardLogger` among
    `trainer.loggers`, the first logger's `log_dir` (a `CSVLogger`'s),
    unless `log_dir` is given; with none of these, fit start raises, saying
    what to pass. Only the global
    rank 0 runs the probe and writes; the other ranks do nothing, so they
    never wait on it. Strategies whose forward passes need every rank (FSDP,
    DeepSpeed ZeRO-3, model parallel) are refused at fit start, on every
    rank.

    This class derives from `lightning.pytorch.Callback` (or from
    `pytorch_lightning.Callback` where only `pytorch_lightning` is
    installed); with both installed, give `pytorch_lightning.Trainer`
    `PyTorchLightningActivationLogger` (same arguments), a `Callback` of
    both packages.

    Args:
      probe: the fixed batch: a tensor or array of model inputs (N, C, H, W
        for images), an `(x, y)` tuple (labels are shown beside the
        images), a list of inputs (positional arguments of `forward`) or a
        dict (keyword arguments). Floating inputs go to the module's device
        and dtype.
      layers: what to log: module names as `named_modules()` gives them
        (`"backbone.layer4.1.conv2"`), `"conv:k"`, globs, modules of the
        model, or a list of these (see `tb_actviz.torch.ActivationLogger`;
        `tb_actviz.torch.list_layers(model, probe)` prints every choice).
        Default: the convolution modules, at most `max_layers` of them.
      log_dir: the run to write into (a local path, `file:///abs/path` or
        `s3://bucket/prefix`) instead of the trainer's logger's. Required
        when the trainer has no logger with a `log_dir` (`logger=False`).
      every_n_epochs: log after every this many epochs (and step 0 before
        training). Default 1.
      **options: `tb_actviz.torch.ActivationLogger`'s other options, passed
        through: `max_filters`, `max_images`, `max_map_size`, `max_layers`,
        `class_names`, `kernels`, `attributions`, `probe_display`,
        `image_grids`, `verbose`.

    Example:

    ```python
    import lightning as L
    from tb_actviz.lightning import ActivationLogger

    trainer = L.Trainer(
        max_epochs=20,
        logger=L.pytorch.loggers.TensorBoardLogger("logs", name="cnn"),
        callbacks=[ActivationLogger(probe=(x_val[:8], y_val[:8]),
                                    class_names=["cat", "dog"], kernels=True)],
    )
    trainer.fit(model, train_loader, val_loader)
    # Then: tensorboard --logdir logs   (the run cnn/version_0)
    ```
    """

    def __init__(self, probe, layers=None, log_dir=None, every_n_epochs=1, **options):
        if log_dir is not None and not str(log_dir):
            raise ValueError("log_dir= must be a directory path or None, got %r" % (log_dir,))
        torch_logger.check_callback_options(
            options, "tb_actviz.lightning.ActivationLogger",
            "probe, layers, log_dir, every_n_epochs",
            "it logs epochs (step = epochs completed). For steps of your own, call "
            "tb_actviz.torch.ActivationLogger.log(model, step) from a hook of your own")
        self.probe = probe
        self.layers = layers
        self.log_dir = log_dir
        self.every_n_epochs = positive_int("every_n_epochs", every_n_epochs)
        self.options = options
        self.logger = None  # this fit's tb_actviz.torch.ActivationLogger (rank 0 only)
        self.run_dir = None  # where this fit writes (rank 0 only)

    # Lightning hooks ---------------------------------------------------------

    def on_fit_start(self, trainer, pl_module):
        self._close()
        _check_strategy(trainer)  # on every rank
        run_dir = self.log_dir if self.log_dir is not None else _trainer_run_dir(trainer)
        if run_dir is None:  # alike on every rank: all raise, none waits
            names = [type(l).__name__ for l in (getattr(trainer, "loggers", None) or [])]
            raise ValueError(
                "tb_actviz.lightning.ActivationLogger needs a run to write into: the trainer has "
                "%s. Pass log_dir= to ActivationLogger (e.g. ActivationLogger(probe, "
                "log_dir='logs/run1')), or give the trainer a TensorBoard logger "
                "(Trainer(logger=TensorBoardLogger('logs')), or leave logger= at its default)"
                % ("no logger" if not names
                   else "no logger with a log_dir (%s)" % ", ".join(names)))
        if not trainer.is_global_zero:
            return
        self.run_dir = str(run_dir)
        self.logger = torch_logger.ActivationLogger(
            self.run_dir, self.probe, layers=self.layers, step_unit="epoch", **self.options)
        self.logger.schedule = ("every epoch" if self.every_n_epochs == 1
                                else "every %d epochs" % self.every_n_epochs)

    def on_train_start(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._log(pl_module, trainer.current_epoch)

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        done = trainer.current_epoch + 1
        if done % self.every_n_epochs == 0:
            self._log(pl_module, done)

    def on_fit_end(self, trainer, pl_module):
        self._close()

    def on_exception(self, trainer, pl_module, exception):
        self._close()

    def teardown(self, trainer, pl_module, stage):
        if stage == "fit":
            self._close()

    # Logging -------------------------------------------------------------

    def _log(self, pl_module, step):
        if self.logger is not None:  # the global rank 0
            self.logger.log_if_new(pl_module, step)

    def _close(self):
        logger, self.logger = self.logger, None
        if logger is not None:
            logger.close()


def _pytorch_lightning_class():
    try:
        import pytorch_lightning
    except ModuleNotFoundError as e:
        if e.name != "pytorch_lightning":
            raise
        raise ImportError(
            "PyTorchLightningActivationLogger is the callback for pytorch_lightning.Trainer, "
            "and pytorch_lightning is not installed: with lightning.pytorch.Trainer (import "
            "lightning), use tb_actviz.lightning.ActivationLogger") from e
    if issubclass(ActivationLogger, pytorch_lightning.Callback):
        return ActivationLogger  # only pytorch_lightning is installed
    bases = (ActivationLogger, pytorch_lightning.Callback)
    return type("PyTorchLightningActivationLogger", bases, {
        "__doc__": (
            "`tb_actviz.lightning.ActivationLogger` for `pytorch_lightning.Trainer` where the "
            "`lightning` package is installed too: a `pytorch_lightning.Callback` (and a "
            "`lightning.pytorch.Callback`). Same arguments.\n\n"
            "Example:\n\n```python\nimport pytorch_lightning as pl\n"
            "from tb_actviz.lightning import PyTorchLightningActivationLogger\n\n"
            "trainer = pl.Trainer(max_epochs=20, callbacks=[\n"
            "    PyTorchLightningActivationLogger(probe=x_val[:8])])\n```\n"),
        "__module__": __name__,
    })


_lazy = {}


def __getattr__(name):
    # Made on first use: importing this module must not import a second
    # Lightning package.
    if name == "PyTorchLightningActivationLogger":
        if name not in _lazy:
            _lazy[name] = _pytorch_lightning_class()
        return _lazy[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
