"""ActivationLogger for any torch.nn.Module: plain loops, and under the
Lightning and Hugging Face loggers."""

import inspect
import sys

import numpy as np
import torch

from tb_actviz import logger_core
from tb_actviz.capture import probe as probe_lib
from tb_actviz.capture import selection
from tb_actviz.capture import token_grid as token_grid_lib
from tb_actviz.format import geometry as geometry_lib
from tb_actviz.torch import capture
from tb_actviz.torch import model_state
from tb_actviz.torch import modules
from tb_actviz.write import log_dir as log_dir_lib

# The Keras logger's defaults: the seed recipe's 7x7 grid, maps <= 32 px.
DEFAULT_MAX_FILTERS = logger_core.DEFAULT_MAX_FILTERS
DEFAULT_MAX_IMAGES = logger_core.DEFAULT_MAX_IMAGES
DEFAULT_MAX_MAP_SIZE = logger_core.DEFAULT_MAX_MAP_SIZE
STEP_UNITS = ("epoch", "batch", "")


# Arguments of `ActivationLogger` that the framework callbacks set themselves.
_SET_BY_CALLBACKS = ("log_dir", "probe", "layers", "step_unit")


def check_callback_options(options, owner, own_arguments, step_unit_hint):
    """Raises a TypeError at a framework callback's construction for an
    option `ActivationLogger` does not take, naming the ones it does.

    Args:
      options: the callback's `**options`, passed through to `ActivationLogger`.
      owner: the callback's name, for the message.
      own_arguments: the callback's own arguments, as the message lists them.
      step_unit_hint: what the callback takes instead of `step_unit=`.
    """
    valid = [name for name in inspect.signature(ActivationLogger).parameters
             if name not in _SET_BY_CALLBACKS]
    for name in options:
        if name == "step_unit":
            raise TypeError("%s: step_unit= is not an option here; %s" % (owner, step_unit_hint))
        if name not in valid:
            raise TypeError("%s got an unexpected option %r; the options are %s and %s"
                            % (owner, name, own_arguments, ", ".join(valid)))


def writing_rank():
    """Whether this process writes: rank 0 of `torch.distributed`, or the
    only process."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()
                and torch.distributed.get_rank() != 0)


class ActivationLogger(logger_core.LoggerCore):
    """Logs the feature maps of chosen modules of a PyTorch model for a fixed
    probe batch, into the Activations tab of TensorBoard.

    Each `log(model, step)` runs the probe batch through the model once,
    eagerly, in eval mode and under `torch.inference_mode()`, with a forward
    hook on each chosen module for that pass only, pools the modules'
    outputs to the stored size on the model's device, and hands the small
    float32 maps to a background thread that computes their statistics,
    quantizes them to 8 bits per map, encodes PNG strips and writes them
    into `log_dir` (events for TensorBoard's index, pixels under
    `<log_dir>/plugins/activations/`), the format the Keras callback
    writes: the tab, `tb-actviz export` and `LogReader` read both alike.

    `log_dir` is the run itself, as for `torch.utils.tensorboard.
    SummaryWriter(log_dir)`: scalars written there show beside the
    activations. A log leaves the model as it found it: every module's own
    `.training` flag (a frozen BatchNorm stays in eval), parameters,
    buffers, every `.grad` and the RNG states are untouched, no hook is
    left on the model, and no autograd graph is kept. The model may be
    wrapped as it trains: in `DistributedDataParallel` (only rank 0 logs,
    on `.module`, so the other ranks never wait on it) or `DataParallel`,
    compiled with `torch.compile` (the pass runs eagerly on the original
    module), in `channels_last` memory format, in bfloat16 or float16, on a
    GPU (only the pooled maps cross to the host). A model sharded with FSDP
    is refused at the first log with what would work. A fault while
    logging (disk full, a removed file, an error in the forward) is a
    warning, and logging stops after 3 failures in a row; an invalid
    configuration raises at the first log.

    Args:
      log_dir: the run's directory (a local path, `file:///abs/path`, or
        `s3://bucket/prefix`).
      probe: the fixed batch: a tensor or array of model inputs (N, C, H, W
        for images), an `(x, y)` tuple (labels are shown beside the
        images), a list of inputs (positional arguments of `forward`) or a
        dict (keyword arguments). Floating inputs go to the model's device
        and dtype at each log.
      layers: what to log: a module name as `named_modules()` gives it
        (`"layer4.1.conv2"`; the `module.` or `_orig_mod.` prefix of a
        wrapper is accepted), `"conv:k"` (the k-th convolution module in
        the order the forward pass calls them; `"conv:-1"` the last), a glob
        (`"layer*.0.conv1"`; without a dot it matches the last name), a
        module of the model, or a list of these. A module the forward pass
        never calls is refused; one called more than once is logged at its
        first call, with a warning. Default: the convolution modules, at
        most `max_layers` spread from first to last.
        `tb_actviz.torch.list_layers(model, probe)` prints every choice.
      max_filters: log the first this many channels of each module. Default 49.
      max_images: use at most this many probe images. Default 16.
      max_map_size: maps with a side larger than this are area-averaged by
        an integer factor until they fit. Default 32.
      max_layers: cap of the default selection. Default 16.
      class_names: optional names for integer (or one-hot) probe labels.
      kernels: also log convolution kernels as RGB (3 input channels) or
        gray patches: True for the first `Conv2d` the pass calls, or a
        `layers=`-style selection of `Conv2d` modules. Default False.
      attributions: also log where the model looks: Grad-CAM on a
        convolution module and input-gradient saliency, per probe image
        (`tb_actviz.torch.Attributions`; True for the defaults). Needs a
        classifier whose output is (batch, classes) logits. Default None.
      probe_display: what the probe images show, for a normalized probe:
        display images (N, H, W, 3) or (N, 3, H, W), uint8 or float 0..1; a
        callable mapping the probe's input batch (numpy, NCHW) to such
        images; or `"torch"` (the inverse of torchvision's ImageNet
        normalization), `"caffe"`, `"tf"`. Default: the input, min-max
        scaled per image.
      token_grid: which `(batch, tokens, channels)` outputs are shown as
        maps, a vision transformer's tokens laid out as its patch grid
        (leading tokens such as a class token left out), as the Keras
        logger's `token_grid=`: None (default) where a patch-embedding
        `Conv2d` (kernel size == stride) called before the module makes the
        grid unambiguous; False: none; True or `tb_actviz.TokenGrid(height,
        width, leading=...)`: every logged token output; a dict of
        `layers=` items to those, per module.
      step_unit: what `step` counts, as the tab words it: `"epoch"`
        (default), `"batch"`, or `""`.
      image_grids: also write each module's first-image grid as a standard
        Images-tab image. Default False.
      verbose: 1 prints one line once the first log is written; 0 is silent.

    Example:

    ```python
    import tb_actviz.torch as tbt

    logger = tbt.ActivationLogger("runs/resnet", probe=(x_val[:8], y_val[:8]),
                                  layers=["conv1", "layer4.1.conv2"])
    logger.log(model, step=0)
    for epoch in range(1, epochs + 1):
        train_one_epoch(model)
        logger.log(model, step=epoch)
    logger.close()
    # Then: tensorboard --logdir runs
    ```
    """

    def __init__(self, log_dir, probe, layers=None, max_filters=DEFAULT_MAX_FILTERS,
                 max_images=DEFAULT_MAX_IMAGES, max_map_size=DEFAULT_MAX_MAP_SIZE,
                 max_layers=selection.DEFAULT_MAX_LAYERS, class_names=None, kernels=False,
                 attributions=None, probe_display=None, token_grid=None, step_unit="epoch",
                 image_grids=False, verbose=1):
        if step_unit not in STEP_UNITS:
            raise ValueError("step_unit= must be one of %s, got %r" % (STEP_UNITS, step_unit))
        from tb_actviz.torch import attribution as attribution_lib

        self._take_options(
            log_dir, probe, layers, max_filters, max_images, max_map_size, max_layers,
            class_names, kernels, attributions, token_grid, image_grids, verbose, probe_display,
            parse_attributions=attribution_lib.parse, layer_types=(torch.nn.Module,),
            display_channels_first=True)
        self.run_dir = self.log_dir
        self.step_unit = step_unit
        self._model = None
        self._pass = None
        # How often logs come, as the first log's line says it (the
        # Lightning and Trainer callbacks say when they call `log`).
        self.schedule = "at each log() call"

    # The user's calls --------------------------------------------------------

    def log(self, model, step):
        """Logs `model` (a module, or its DDP / DataParallel / torch.compile
        wrapper) at `step`. The first call checks the configuration and
        raises on what cannot be logged; later faults only warn. On a rank
        other than 0 of `torch.distributed`, does nothing (no forward pass).

        Args:
          model: the model being trained.
          step: a non-negative integer (an epoch, or batches done).
        """
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError("step must be a non-negative integer, got %r" % (step,))
        step = int(step)
        root = modules.unwrap(model)
        if not writing_rank():
            return
        if self._model is None:
            self._prepare(root)
            log_dir_lib.warn_of_earlier_logs(self.run_dir, step)
        elif root is not self._model:
            raise ValueError(
                "ActivationLogger.log got another model than at its first log; use one "
                "ActivationLogger per model (and per log_dir)")
        self._log_step(step, self._pass)

    def log_if_new(self, model, step):
        """`log(model, step)` unless this logger already logged `step` or a
        later one (a framework calling two hooks for one step). Returns
        whether it logged."""
        if self._last_step is not None and step <= self._last_step:
            return False
        self.log(model, step)
        return True

    def close(self):
        """Writes the log in flight and closes the event file."""
        self._close_writer()
        self._model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if not sys.is_finalizing():
            self.close()

    @property
    def logged_layers(self):
        """The paths of the logged modules (known from the first log on)."""
        return [l.entry.path for l in self._logged]

    # Set-up at the first log ------------------------------------------------

    def _prepare(self, model):
        device, dtype = model_state.placement(model)
        inputs = model_state.to_model(probe_lib.model_inputs(self.probe), device, dtype)
        entries = modules.walk_modules(model, inputs)
        chosen = modules.select(entries, self.layers, self.max_layers)
        logged = [
            capture.LoggedModule(e, geometry_lib.map_geometry(
                e.path, e.output_shape, e.channels_first, self.max_filters, self.max_map_size,
                token_grid=token_grid_lib.layout(
                    self.token_grid, e, e.channels_first, entries, chosen,
                    lambda spec: modules.resolve_one(entries, spec, "token_grid"))))
            for e in chosen
        ]
        kernel_modules = _kernel_modules(entries, self.kernels, self.max_filters)
        attribution = None
        if self.attributions is not None:
            from tb_actviz.torch import attribution as attribution_lib

            attribution = attribution_lib.AttributionPass(
                model, entries, self.attributions, inputs, self.probe, self.max_map_size)
        self._check_run_dir(self.run_dir)
        self._pass = capture.ProbePass(model, logged, kernel_modules,
                                       probe_lib.model_inputs(self.probe), attribution)
        self._open_writer(self.run_dir, logged, kernel_modules, attribution, self.step_unit,
                          self.schedule, channels_first=True)
        self._model = model


def _has_2d_kernel(entry):
    layer = entry.layer
    return isinstance(layer, torch.nn.Conv2d) and layer.weight.dim() == 4


def _kernel_modules(entries, kernels, max_filters):
    """Resolves `kernels=`: True is the first Conv2d the pass calls;
    otherwise a `layers=`-style selection of Conv2d modules."""
    if not kernels:
        return []
    if kernels is True:
        chosen = [e for e in selection.conv_layers(entries) if _has_2d_kernel(e)][:1]
        if not chosen:
            raise ValueError("kernels=True: the model has no Conv2d module")
    else:
        chosen = modules.select(entries, kernels, argument="kernels")
        wrong = [e.path for e in chosen if not _has_2d_kernel(e)]
        if wrong:
            raise ValueError("kernels=: %s has no 2-D convolution kernel; pick Conv2d modules"
                             % ", ".join(wrong))
    return [capture.KernelModule(e, min(e.layer.out_channels, max_filters)) for e in chosen]


def list_layers(model, probe, print_fn=print):
    """Prints and returns the modules of a PyTorch model that `layers=` can
    pick: per row, the value that selects exactly it (its dotted name),
    `"conv:k"` for convolution modules (in the order the forward pass calls
    them), its class, its output shape (from one pass of the probe's first
    sample), whether it can be logged, and `*` where `layers=None` takes it.

    Args:
      model: a `torch.nn.Module` (or its DDP / torch.compile wrapper).
      probe: the probe batch, as `ActivationLogger` takes it.
      print_fn: called with the table; None prints nothing.

    Returns:
      A `LayerTable`: a list of entries whose `str()` is the table.
    """
    model = modules.unwrap(model)
    probe = probe_lib.make_probe(probe, 1)
    device, dtype = model_state.placement(model)
    inputs = model_state.to_model(probe_lib.model_inputs(probe), device, dtype)
    table = selection.LayerTable(modules.walk_modules(model, inputs))
    if print_fn is not None:
        print_fn(str(table))
    return table
