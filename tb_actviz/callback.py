"""ActivationLogger: a Keras callback that logs feature maps while training."""

import os
import sys

import keras

from tb_actviz import remote_files
from tb_actviz.arguments import positive_int
from tb_actviz.capture import attribution as attribution_lib
from tb_actviz.capture import attribution_options
from tb_actviz.capture import backends
from tb_actviz.capture import extractor
from tb_actviz.capture import kernels as kernels_lib
from tb_actviz.capture import layer_selection
from tb_actviz.capture import log_capture
from tb_actviz.capture import probe as probe_lib
from tb_actviz.capture import probe_display as probe_display_lib
from tb_actviz.format import blob_layout
from tb_actviz.write import failure_policy
from tb_actviz.write import log_dir as log_dir_lib
from tb_actviz.write import log_writer

# The seed recipe's 7x7 grid of filters.
DEFAULT_MAX_FILTERS = 49
DEFAULT_MAX_IMAGES = 16
# Small enough that TensorBoard holds 300 logged steps of VGG16's 13 conv
# layers for 2 runs in under 2 GB (benchmarks/bench_plugin.py).
DEFAULT_MAX_MAP_SIZE = 32


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


class ActivationLogger(keras.callbacks.Callback):
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
        max_layers=layer_selection.DEFAULT_MAX_LAYERS,
        class_names=None,
        kernels=False,
        attributions=None,
        image_grids=False,
        verbose=1,
        probe_display=None,
        token_grid=None,
    ):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ValueError("log_dir= must be a directory path, got %r" % (log_dir,))
        if update_freq != "epoch":
            positive_int("update_freq (or 'epoch')", update_freq)
        # file:///abs is the local path; a remote path with ../ or // is refused.
        self.log_dir = remote_files.log_dir_path(log_dir)
        self.run_dir = os.path.join(self.log_dir, "train")
        self.layers = layers
        self.every_n_epochs = positive_int("every_n_epochs", every_n_epochs)
        self.update_freq = update_freq
        self.max_filters = positive_int("max_filters", max_filters)
        self.max_images = positive_int("max_images", max_images)
        self.max_map_size = positive_int("max_map_size", max_map_size)
        self.max_layers = positive_int("max_layers", max_layers)
        self.kernels = kernels
        self.attributions = attribution_lib.parse(attributions)
        from tb_actviz.capture import token_grid as token_grid_lib
        self.token_grid = token_grid_lib.parse(token_grid, (keras.layers.Layer,))
        self.class_names = None if class_names is None else [str(n) for n in class_names]
        self.image_grids = bool(image_grids)
        self.verbose = verbose
        self.probe = self._given_probe = probe_lib.make_probe(probe, self.max_images, class_names)
        self.probe_display = probe_display_lib.check(probe_display, self.probe)
        self._capture = None
        self._writer = None
        self._failures = failure_policy.FailurePolicy()
        self._batches_done = 0
        self._epoch_start = 0
        self._last_batch = -1
        self._last_logged_batch = None
        self._prepared = False
        self._initial_logged = False
        self._last_step = None  # of this callback's logs, over all its fits
        self._epoch_offset = 0

    # Keras hooks -----------------------------------------------------------

    # Batch hooks: only `on_train_batch_begin`. Overriding a batch *end* hook
    # makes Keras turn every batch's logs into Python numbers, a device sync
    # per batch that cost the faces example a third of its fit time.

    def on_train_begin(self, logs=None):
        self._prepared = False
        self._initial_logged = False
        self._batches_done = _completed_batches(self.model)
        self._epoch_start = self._batches_done
        self._last_batch = -1
        self._last_logged_batch = None
        self._epoch_offset = None  # set by the fit's first epoch
        if _is_built(self.model) or _builds_from_probe(self.model):
            self._prepare()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._batches_done
        self._last_batch = -1
        if self._epoch_offset is None:
            # A later fit with this callback goes on from its last step (as
            # `initial_epoch` does), instead of logging epochs 0, 1, ... again.
            last = self._last_step if self.update_freq == "epoch" else None
            self._epoch_offset = last - epoch if last is not None and epoch < last else 0
        if self._prepared and not self._initial_logged:
            self._log_initial(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self._last_batch = batch
        self._batches_done = self._epoch_start + batch  # completed before this one
        if not self._prepared:
            if not _is_built(self.model):
                return
            # A model without an Input is built by its first batch, from the
            # real data: only now can the probe be checked against it.
            self._prepare()
            self._log_initial(0)
        self._log_batch_if_due()

    def on_epoch_end(self, epoch, logs=None):
        self._batches_done = self._epoch_start + self._last_batch + 1
        if not self._prepared and _is_built(self.model):
            self._prepare()
            self._log_initial(0)
        if self.update_freq == "epoch":
            if (epoch + 1) % self.every_n_epochs == 0:
                self._log(epoch + 1 + (self._epoch_offset or 0))
        else:
            self._log_batch_if_due()

    def _log_batch_if_due(self):
        done = self._batches_done
        if (
            self.update_freq != "epoch"
            and done > 0
            and done % self.update_freq == 0
            and done != self._last_logged_batch
        ):
            self._last_logged_batch = done
            self._log(done)

    def on_train_end(self, logs=None):
        self._close()

    def __del__(self):
        # At interpreter exit the writer closes itself (each log is on disk
        # once written).
        if not sys.is_finalizing():
            self._close()

    # Set-up, validated before any training step ------------------------------

    def set_model(self, model):
        # DistributedDataParallel wraps the Keras model on torch.
        layer_selection.check_keras_3_model(getattr(model, "module", model))
        super().set_model(model)

    def _prepare(self):
        model = self.model
        self._prepared = True
        backends.check_supported()
        self._close()
        # A dict's keys are matched with this model's inputs (labels under a label key).
        self.probe = probe_lib.for_model(self._given_probe, model, self.class_names)
        # One pass of the probe's first sample: every layer's output shape
        # and call count, whatever the model's kind and input sizes.
        trace = layer_selection.trace_model(model, probe_lib.model_inputs(self.probe))
        all_entries = layer_selection.walk_layers(model, trace=trace)
        entries = layer_selection.select_layers(
            model, self.layers, self.max_layers, entries=all_entries)
        self._logged = [
            extractor.LoggedLayer.of(entry, self.max_filters, self.max_map_size,
                                     token_grid=self.token_grid, entries=all_entries, logged=entries)
            for entry in entries
        ]
        self._kernel_layers = kernels_lib.select_kernel_layers(
            model, self.kernels, self.max_filters, entries=all_entries)
        self._attribution = None
        if self.attributions is not None:
            self._attribution = attribution_lib.AttributionPipeline(
                model,
                attribution_lib.select_cam_layer(model, self.attributions.layer, all_entries),
                self.probe.size,
                self.probe.class_ids,
                self.attributions.target,
                self.max_map_size,
                output=self.attributions.output,
                trace=trace,
            )
        self._failures = failure_policy.FailurePolicy()
        self._capture = None
        if not backends.is_chief(model):
            return  # in distributed training one process writes
        log_dir_lib.check_writable(self.run_dir, self.log_dir)
        self._capture = log_capture.LogCapture(
            model, self._logged, self._kernel_layers, self.probe, self._attribution)
        self._writer = log_writer.LogWriter(
            self.run_dir,
            layers=[self._layer_series(l) for l in self._logged],
            kernels=[self._kernel_series(k) for k in self._kernel_layers],
            probe=log_writer.ProbeImages(
                inputs=self.probe.first_input(),
                labels=self.probe.labels,
                max_side=2 * self.max_map_size,
                channels_first=keras.config.image_data_format() == "channels_first",
                display=probe_display_lib.pictures(self.probe_display, self.probe.first_input()),
            ),
            failures=self._failures,
            attributions=self._attribution_series(),
            image_grids=self.image_grids,
            on_first_written=self._report if self.verbose else None,
        )

    @property
    def trace_count(self):
        """How many times the log pipeline was compiled in this training: 1
        on TensorFlow and JAX; 0 on PyTorch, which runs it eagerly."""
        return self._capture.compile_count if self._capture else 0

    @property
    def attribution_trace_count(self):
        """The same for the attribution pipeline (forward and backward)."""
        return self._capture.attribution_compile_count if self._capture else 0

    def _layer_series(self, logged):
        entry = logged.entry
        return log_writer.TagSeries(logged.tag, blob_layout.layer_plugin_data(
            entry.path, entry.index, entry.class_name, entry.output_shape,
            logged.geometry, self.probe.size,
            step_unit="epoch" if self.update_freq == "epoch" else "batch",
        ))

    def _attribution_series(self):
        if self._attribution is None:
            return []
        return attribution_options.tag_series(
            self._attribution, self.probe.size, self.class_names,
            "epoch" if self.update_freq == "epoch" else "batch")

    def _kernel_series(self, kernel_layer):
        entry = kernel_layer.entry
        return log_writer.TagSeries(kernel_layer.tag, blob_layout.kernel_plugin_data(
            entry.path, entry.index, entry.class_name,
            tuple(kernel_layer.kernel.shape[:3]) + (entry.layer.filters,),
            kernel_layer.num_filters,
        ))

    # Logging -------------------------------------------------------------

    def _log_initial(self, epoch):
        self._initial_logged = True
        step = epoch + (self._epoch_offset or 0) if self.update_freq == "epoch" else self._batches_done
        self._last_logged_batch = self._batches_done
        if self._last_step is not None and step <= self._last_step:
            return  # a later fit: the model as it starts is the last step logged
        if self._last_step is None and self._writer is not None:
            log_dir_lib.warn_of_earlier_logs(
                self.run_dir, step,
                "fit(initial_epoch=%d)" if self.update_freq == "epoch" else None)
        self._log(step)

    def _log(self, step):
        """Captures one step on the training thread and hands it to the
        writer; a failure warns and never stops training."""
        self._last_step = step
        if self._writer is None or self._failures.disabled:
            return
        self._writer.capture_and_submit(step, self._capture_now)

    def _capture_now(self):
        self.model  # on JAX, syncs this step's weights into the variables
        return self._capture()

    def flush(self):
        """Waits until the log in flight is on disk (or its failure is
        counted and warned about). Logs are written in the background; call
        this to read a log dir while training goes on."""
        if self._writer is not None:
            self._writer.collect()

    def _report(self, written):
        when = "every %d batches" % self.update_freq if self.update_freq != "epoch" else (
            "every epoch" if self.every_n_epochs == 1 else "every %d epochs" % self.every_n_epochs
        )
        print(log_dir_lib.first_log_line(self._logged, self._kernel_layers, self._attribution,
                                         written, self.probe.size, self.run_dir, when))

    def _close(self):
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            writer.close()

