"""ActivationLogger: a Keras callback that logs feature maps while training."""

import os
import sys

import keras

from tb_actviz import logger_core
from tb_actviz import step_schedule
from tb_actviz.capture import attribution as attribution_lib
from tb_actviz.capture import backends
from tb_actviz.capture import extractor
from tb_actviz.capture import kernels as kernels_lib
from tb_actviz.capture import layer_selection
from tb_actviz.capture import layer_tree
from tb_actviz.capture import log_capture
from tb_actviz.capture import probe as probe_lib
from tb_actviz.write import failure_policy
from tb_actviz.write import log_dir as log_dir_lib

DEFAULT_MAX_FILTERS = logger_core.DEFAULT_MAX_FILTERS
DEFAULT_MAX_IMAGES = logger_core.DEFAULT_MAX_IMAGES
DEFAULT_MAX_MAP_SIZE = logger_core.DEFAULT_MAX_MAP_SIZE


def _is_built(model):
    return bool(model.built)


def _builds_from_probe(model):
    """Whether an unbuilt model is built by the probe's pass at train begin:
    a subclassed model (TensorFlow's trainer builds one only inside the first
    train step), so that its selection is checked before any step. A
    Sequential without an Input waits for Keras to build it from the real
    data, which then checks the probe."""
    return not isinstance(model, keras.Sequential) and not getattr(model, "inputs", None)


def _completed_batches(model):
    """Training batches done before this fit (steps go on across fits)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", False):
        return 0
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


class ActivationLogger(keras.callbacks.Callback, logger_core.LoggerCore):
    """Logs the feature maps of chosen layers for a fixed probe batch.

    Each log runs the probe batch through the model once, takes the chosen
    layers' activations, and writes them (8-bit per map, PNG, with each map's
    value range and statistics) to TensorBoard event files in
    `<log_dir>/train`, the run that `keras.callbacks.TensorBoard(log_dir)` uses
    for its training scalars. `tensorboard --logdir` then shows them in the
    **Activations** tab. The model is logged once before training (step 0),
    then after every epoch (step = epochs completed) or every `update_freq`
    batches (step = batches completed, counted across fits like
    `keras.callbacks.TensorBoard`). A `Sequential` without an `Input` is built by
    its first training batch; its step 0 is logged after that batch (an
    unbuilt subclassed model is built by the probe's pass at train begin). A second
    `fit` with the same callback goes on from its last step; a new training
    into a run that already holds activations warns at its first log, since
    readers show a step that goes back as a restart (the newer training from
    there on).

    It works on every Keras 3 backend (TensorFlow, JAX, PyTorch) and writes
    its event files itself, without TensorFlow. All layers come from one
    forward pass, the model's own (`model(probe, training=False)`, the chosen
    layers' outputs taken as they return), so any Keras model logs:
    Functional, Sequential, subclassed, layers inside custom layers, `None`
    input sizes (the probe's sizes are used). The pass is compiled once per
    training (`tf.function`, `jax.jit`; eager under `torch.inference_mode` on
    PyTorch); statistics, 8-bit quantization, PNG encoding and writing run on
    a background thread. In distributed training only one process writes (the
    tf.distribute chief, JAX process 0, torch.distributed rank 0).
    A fault while logging (disk full, a removed file) is a warning: training
    goes on, and logging stops after 3 failures in a row.

    Args:
      log_dir: the directory of the logs, as for `keras.callbacks.TensorBoard`:
        a local path (`file:///abs/path` is that path), or a remote one
        (`s3://bucket/prefix`) without `.`, `..` or repeated slashes.
      probe: the fixed batch: an array or tensor of model inputs, an `(x, y)`
        tuple (the labels are shown beside the images), or a
        `tf.data.Dataset` (its first batch). The probe images are logged once.
        Inputs may be a dict keyed by the model's input names, as `fit`
        takes them; without y, its labels are taken from a key `"label"`,
        `"labels"`, `"y"`, `"target"` or `"targets"` that is no input.
      probe_display: what the probe images show (the probe panel, top images,
        every overlay, the Attention view, `tb-actviz export`), for a probe
        preprocessed for the model. None (default): the model's (first)
        input, scaled to 0-255 per image. Display images, one per probe
        image in its order (`max_images` applies): (N, H, W, 3) RGB or
        (N, H, W, 1) / (N, H, W) gray, uint8 0..255 or float 0..1 (under the
        channels_first data format (N, C, H, W) too). A callable, called
        once at train begin with the model's (first) input batch (numpy, a
        copy), that returns such images, e.g. an inverse of the
        preprocessing. Or `"caffe"`, `"torch"`, `"tf"`: the inverse of
        `keras.applications.imagenet_utils.preprocess_input` in that mode
        (`"caffe"`: VGG16/19, ResNet50; `"tf"`: MobileNet, Inception,
        Xception; `"torch"`: DenseNet). The overlays lay the maps over the
        displayed image as over the model's input: images of another size
        than the model input's are resized to it when their aspect ratio is
        the same (within a pixel), refused otherwise (crop them as the
        input was cropped).
      layers: what to log: `"conv:k"`, the k-th convolution layer of the
        whole model in the order the forward pass calls them, nested models
        and custom layers included (`["conv:0", "conv:-1"]`: the first and
        the last); a layer name, a path (`"vgg16/block1_conv1"`, `"blk/ca"`
        for a Conv2D `ca` in a custom block `blk`, with or without the
        model's name in front), an index into `model.layers` (negative
        allowed; `"vgg16/-2"` indexes a nested model's layers), a glob
        pattern (`"block*_conv*"`), a layer of the model
        (`model.get_layer("conv1")`, nested ones too), or a list of these.
        A layer the forward pass does not call is refused; one it calls
        more than once is logged at its first call, with a warning.
        Default: the model's
        convolution layers, at most `max_layers` spread from first to last.
        `tb_actviz.list_layers(model, probe=...)` prints every choice.
      every_n_epochs: log every this many epochs. Default 1.
      update_freq: `"epoch"` (default) or an integer N to log every N
        training batches instead.
      max_filters: log the first this many channels of each layer. Default 49
        (the seed recipe's 7x7 grid).
      max_images: use at most this many probe images. Default 16.
      max_map_size: maps with a side larger than this are downsampled by an
        integer area-averaging factor until they fit. Default 32 (VGG16's
        224x224 first-layer maps are stored at 32x32, its 56x56 maps at 28x28);
        raise it for sharper maps at about its square in bytes.
      max_layers: cap of the default layer selection. Default 16.
      token_grid: which `(batch, tokens, channels)` outputs are shown as
        maps, a vision transformer's tokens laid out as its patch grid
        (row-major; leading tokens such as a class token or registers left
        out of the maps, the metadata says how many), drawn, zoomed,
        overlaid and exported like a convolution layer's. None (default):
        automatically, only where the model leaves no doubt: it has a
        patch-embedding `Conv2D` (kernel size == strides > 1, "valid"
        padding) called before the layer, whose output grid holds the
        layer's tokens after none or one leading token; every other token
        output stays a sequence (one row per channel). False: none. True:
        every logged token output, the grid inferred (the patch
        embedding's, else the largest square, with up to 16 leading
        tokens). `tb_actviz.TokenGrid(height, width, leading=...)`: that
        layout for every logged token output (a field left None is
        inferred: `TokenGrid(leading=1)`). A dict of `layers=` items to
        `TokenGrid`, True or False: per layer, the others automatic. A
        layout that does not fit a layer's tokens, or a dict key that
        names a layer not logged, raises ValueError at train begin naming
        layouts that would fit.
      class_names: optional names for integer (or one-hot) probe labels.
      kernels: also log convolution kernels as small RGB (3 input channels)
        or gray patches, every log: True for the model's first 2-D convolution
        layer, or a `layers=`-style selection of Conv2D layers. Default False.
      attributions: also log where the model looks, per probe image and
        log: Grad-CAM on a convolution layer and input-gradient saliency
        (|d score / d input|, the maximum over the input's channels), for
        the true label when the probe has labels, else the predicted class,
        with what the model predicted (class and score). True for the
        defaults (Grad-CAM on the last convolution layer with maps larger
        than 1x1, nested models included), a layer selector (`"conv:-2"`),
        or `tb_actviz.Attributions(layer=..., target=...)`. One forward and
        backward pass of the probe in inference mode (dropout off, no
        BatchNorm update, weights untouched), compiled once per training.
        The tab shows it in its Attention view. Needs one image input and a
        classifier output (batch, classes). Default None (off).
      image_grids: also write, per layer and log, a standard Images-tab
        image, as `tf.summary.image` would (tag `actviz_grid/<layer path>`): the first probe
        image's filters as a viridis grid, so the log dir stays readable in
        TensorBoard's Images tab where this plugin is not installed. Default
        False.
      verbose: 1 prints one line with what is logged and how many bytes one
        log writes, once the first log is written (after the first epoch or
        at train end, never blocking training); 0 is silent.

    Raises at train begin, before any training step:
      ValueError: an unknown or unloggable layer (the message lists the
        model's layers, their output shapes, and the closest match), a probe
        that does not fit the model's input, or a `log_dir` that cannot be
        written.

    Example:

    ```python
    from tb_actviz import ActivationLogger, list_layers

    list_layers(model)  # what can be logged
    model.fit(
        x_train, y_train, epochs=20,
        callbacks=[
            keras.callbacks.TensorBoard("logs/run1"),
            ActivationLogger("logs/run1", probe=(x_val[:8], y_val[:8]),
                             layers=["conv:0", "conv:-1"]),
        ],
    )
    # Then: tensorboard --logdir logs
    ```
    """

    def __init__(
        self,
        log_dir,
        probe,
        layers=None,
        every_n_epochs=1,
        update_freq="epoch",
        max_filters=DEFAULT_MAX_FILTERS,
        max_images=DEFAULT_MAX_IMAGES,
        max_map_size=DEFAULT_MAX_MAP_SIZE,
        max_layers=logger_core.DEFAULT_MAX_LAYERS,
        class_names=None,
        kernels=False,
        attributions=None,
        image_grids=False,
        verbose=1,
        probe_display=None,
        token_grid=None,
    ):
        super().__init__()
        self._schedule = step_schedule.StepSchedule(update_freq, every_n_epochs)
        self.every_n_epochs, self.update_freq = every_n_epochs, update_freq
        self._take_options(
            log_dir, probe, layers, max_filters, max_images, max_map_size, max_layers,
            class_names, kernels, attributions, token_grid, image_grids, verbose, probe_display,
            parse_attributions=attribution_lib.parse, layer_types=(keras.layers.Layer,),
            display_channels_first=None)
        self.run_dir = os.path.join(self.log_dir, "train")
        self._given_probe = self.probe
        self._capture = None
        self._prepared = False

    # Keras hooks -----------------------------------------------------------

    # Batch hooks: only `on_train_batch_begin`. Overriding a batch *end* hook
    # makes Keras turn every batch's logs into Python numbers, a device sync
    # per batch that cost the faces example a third of its fit time.

    def on_train_begin(self, logs=None):
        self._prepared = False
        self._schedule.begin_fit(_completed_batches(self.model))
        if _is_built(self.model) or _builds_from_probe(self.model):
            self._prepare()

    def on_epoch_begin(self, epoch, logs=None):
        self._schedule.begin_epoch(epoch, self._last_step)
        if self._prepared and not self._schedule.initial_logged:
            self._log_initial(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self._schedule.begin_batch(batch)
        if not self._prepared:
            if not _is_built(self.model):
                return
            # A model without an Input is built by its first batch, from the
            # real data: only now can the probe be checked against it.
            self._prepare()
            self._log_initial(0)
        self._log(self._schedule.batch_step())

    def on_epoch_end(self, epoch, logs=None):
        self._schedule.end_epoch()
        if not self._prepared and _is_built(self.model):
            self._prepare()
            self._log_initial(0)
        self._log(self._schedule.epoch_end_step(epoch))

    def on_train_end(self, logs=None):
        self._close_writer()

    def __del__(self):
        # At interpreter exit the writer closes itself (each log is on disk
        # once written).
        if not sys.is_finalizing():
            self._close_writer()

    def set_model(self, model):
        # DistributedDataParallel wraps the Keras model on torch.
        layer_tree.check_keras_3_model(getattr(model, "module", model))
        super().set_model(model)

    @property
    def trace_count(self):
        """How many times the log pipeline was compiled in this training: 1
        on TensorFlow and JAX; 0 on PyTorch, which runs it eagerly."""
        return self._capture.compile_count if self._capture else 0

    @property
    def attribution_trace_count(self):
        """The same for the attribution pipeline (forward and backward)."""
        return self._capture.attribution_compile_count if self._capture else 0

    # Set-up, validated before any training step ------------------------------

    def _prepare(self):
        model = self.model
        self._prepared = True
        backends.check_supported()
        self._close_writer()
        # A dict's keys are matched with this model's inputs (labels under a label key).
        self.probe = probe_lib.for_model(self._given_probe, model, self.class_names)
        # One pass of the probe's first sample: every layer's output shape
        # and call count, whatever the model's kind and input sizes.
        trace = layer_tree.trace_model(model, probe_lib.model_inputs(self.probe))
        all_entries = layer_tree.walk_layers(model, trace=trace)
        entries = layer_selection.select_layers(
            model, self.layers, self.max_layers, entries=all_entries)
        logged = [
            extractor.LoggedLayer.of(entry, self.max_filters, self.max_map_size,
                                     token_grid=self.token_grid, entries=all_entries, logged=entries)
            for entry in entries
        ]
        kernel_layers = kernels_lib.select_kernel_layers(
            model, self.kernels, self.max_filters, entries=all_entries)
        attribution = None
        if self.attributions is not None:
            attribution = attribution_lib.AttributionPipeline(
                model,
                attribution_lib.select_cam_layer(model, self.attributions.layer, all_entries),
                self.probe.size,
                self.probe.class_ids,
                self.attributions.target,
                self.max_map_size,
                output=self.attributions.output,
                trace=trace,
            )
        self._logged, self._kernel_layers, self._attribution = logged, kernel_layers, attribution
        self._failures = failure_policy.FailurePolicy()
        self._capture = None
        if not backends.is_chief(model):
            return  # in distributed training one process writes
        self._check_run_dir(self.run_dir)
        self._capture = log_capture.LogCapture(model, logged, kernel_layers, self.probe, attribution)
        self._open_writer(self.run_dir, logged, kernel_layers, attribution, self._schedule.unit,
                          self._schedule.describe(),
                          channels_first=keras.config.image_data_format() == "channels_first")

    # Logging -------------------------------------------------------------

    def _log_initial(self, epoch):
        step = self._schedule.initial_step(epoch, self._last_step)
        if step is None:
            return  # a later fit: the model as it starts is the last step logged
        if self._last_step is None and self._writer is not None:
            log_dir_lib.warn_of_earlier_logs(
                self.run_dir, step,
                "fit(initial_epoch=%d)" if self._schedule.unit == "epoch" else None)
        self._log(step)

    def _log(self, step):
        """Logs `step` (None: nothing is due)."""
        if step is not None:
            self._log_step(step, self._capture_now)

    def _capture_now(self):
        self.model  # on JAX, syncs this step's weights into the variables
        return self._capture()
