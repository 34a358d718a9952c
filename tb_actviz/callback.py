"""ActivationLogger: a Keras callback that logs feature maps while training."""

import logging
import os
import sys
import tempfile

import keras
import numpy as np

from tb_actviz import colormaps
from tb_actviz import extractor
from tb_actviz import images
from tb_actviz import kernels as kernels_lib
from tb_actviz import layer_selection
from tb_actviz import map_encoding
from tb_actviz import metadata
from tb_actviz import plugin_data_pb2
from tb_actviz import probe as probe_lib
from tb_actviz.background_writer import BackgroundWriter

logger = logging.getLogger("tb_actviz")

# The seed recipe's 7x7 grid of filters.
DEFAULT_MAX_FILTERS = 49
DEFAULT_MAX_IMAGES = 16
# Small enough that TensorBoard holds 300 logged steps of VGG16's 13 conv
# layers for 2 runs in under 2 GB (benchmarks/bench_plugin.py).
DEFAULT_MAX_MAP_SIZE = 32
MAX_CONSECUTIVE_FAILURES = 3


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError("%s= must be a positive integer, got %r" % (name, value))
    return int(value)


def _is_built(model):
    return model.built and bool(getattr(model, "inputs", None))


def _completed_batches(model):
    """Training batches done before this fit (steps go on across fits)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", False):
        return 0
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def _format_bytes(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (count, unit)
        count /= 1000.0


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
    `keras.callbacks.TensorBoard`). A model without an `Input` is built by its
    first training batch; its step 0 is logged after that batch.

    All layers come from one forward pass through an extractor built and
    traced once per training; statistics, 8-bit quantization, PNG encoding and
    writing run on a background thread.
    A fault while logging (disk full, a removed file) is a warning: training
    goes on, and logging stops after 3 failures in a row.

    Args:
      log_dir: the directory of the logs, as for `keras.callbacks.TensorBoard`.
      probe: the fixed batch: an array or tensor of model inputs, an `(x, y)`
        tuple (the labels are shown beside the images), or a
        `tf.data.Dataset` (its first batch). The probe images are logged once.
      layers: what to log: a layer name, a path into nested models
        (`"vgg16/block1_conv1"`), an index into `model.layers` (negative
        allowed; `"vgg16/-2"` indexes a nested model's layers), a glob
        pattern (`"block*_conv*"`), or a list of these. Default: the model's
        convolution layers, at most `max_layers` spread from first to last.
        `tb_actviz.list_layers(model)` prints every choice.
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
      class_names: optional names for integer (or one-hot) probe labels.
      kernels: also log convolution kernels as small RGB (3 input channels)
        or gray patches, every log: True for the model's first 2-D convolution
        layer, or a `layers=`-style selection of Conv2D layers. Default False.
      image_grids: also write, per layer and log, a standard
        `tf.summary.image` (tag `actviz_grid/<layer path>`): the first probe
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
                             layers=[1, -2]),
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
        image_grids=False,
        verbose=1,
    ):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ValueError("log_dir= must be a directory path, got %r" % (log_dir,))
        if update_freq != "epoch":
            _positive_int("update_freq (or 'epoch')", update_freq)
        self.log_dir = os.fspath(log_dir)
        self.run_dir = os.path.join(self.log_dir, "train")
        self.layers = layers
        self.every_n_epochs = _positive_int("every_n_epochs", every_n_epochs)
        self.update_freq = update_freq
        self.max_filters = _positive_int("max_filters", max_filters)
        self.max_images = _positive_int("max_images", max_images)
        self.max_map_size = _positive_int("max_map_size", max_map_size)
        self.max_layers = _positive_int("max_layers", max_layers)
        self.kernels = kernels
        self.image_grids = bool(image_grids)
        self.verbose = verbose
        self.probe = probe_lib.make_probe(probe, self.max_images, class_names)
        self._pipeline = None
        self._writer = None
        self._file_writer = None
        self._failures = 0
        self._disabled = False
        self._batches_done = 0
        self._epoch_start = 0
        self._last_batch = -1
        self._last_logged_batch = None
        self._prepared = False
        self._initial_logged = False
        self._pending_step = None
        self._pending_probe = False
        self._probe_unwritten = False
        self._unreported = False

    # Keras hooks -----------------------------------------------------------

    # Batch hooks: only `on_train_batch_begin`. Overriding a batch *end* hook
    # makes Keras turn every batch's logs into Python numbers, a device sync
    # per batch that cost the faces example a third of its fit time.

    def on_train_begin(self, logs=None):
        self._check_model_kind(self.model)
        self._prepared = False
        self._initial_logged = False
        self._batches_done = _completed_batches(self.model)
        self._epoch_start = self._batches_done
        self._last_batch = -1
        self._last_logged_batch = None
        if _is_built(self.model):
            self._prepare()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._batches_done
        self._last_batch = -1
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
                self._log(epoch + 1)
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
        # At interpreter exit TensorFlow may be gone: leave the writer be (the
        # logs are flushed after each write).
        if not sys.is_finalizing():
            self._close()

    # Set-up, validated before any training step ------------------------------

    def _prepare(self):
        from tb_actviz import summary_v2  # TensorFlow only from here on

        self._summary = summary_v2
        model = self.model
        self._prepared = True
        entries = layer_selection.select_layers(model, self.layers, self.max_layers)
        self._logged = [
            extractor.LoggedLayer(
                entry,
                extractor.map_geometry(
                    entry.layer, entry.output_shape, self.max_filters, self.max_map_size
                ),
            )
            for entry in entries
        ]
        self._check_probe_fits(model)
        self._kernel_layers = kernels_lib.select_kernel_layers(model, self.kernels, self.max_filters)
        self._failures = 0
        self._disabled = False
        self._pending_step = None
        self._pipeline = None
        if not summary_v2.is_chief(model):
            return  # in multi-worker training only the chief logs
        self._check_log_dir()
        self._pipeline = extractor.LogPipeline(model, self._logged)
        self._traced = summary_v2.trace(self._pipeline)
        self._probe_tensor = keras.tree.map_structure(
            keras.ops.convert_to_tensor, self.probe.inputs
        )
        self._writer = BackgroundWriter()
        self._file_writer = summary_v2.SummaryFileWriter(self.run_dir)
        self._plugin_data = [self._layer_plugin_data(l) for l in self._logged]
        self._kernel_plugin_data = [kernels_lib.plugin_data(k) for k in self._kernel_layers]

    @property
    def trace_count(self):
        """How many times the log pipeline was traced (1 per training)."""
        return self._pipeline.trace_count if self._pipeline else 0

    def _check_log_dir(self):
        try:
            os.makedirs(self.run_dir, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.run_dir):
                pass
        except OSError as e:
            raise ValueError(
                "ActivationLogger cannot write to log_dir %r: %s. Choose a "
                "writable directory." % (self.log_dir, e)
            ) from e

    def _log_initial(self, epoch):
        self._initial_logged = True
        if self._pipeline is None:
            return
        step = epoch if self.update_freq == "epoch" else self._batches_done
        self._last_logged_batch = self._batches_done
        self._unreported = True
        self._probe_unwritten = True
        self._log(step)

    def _check_model_kind(self, model):
        if not isinstance(model, keras.Sequential) and not hasattr(model, "_nodes_by_depth"):
            raise ValueError(
                "ActivationLogger needs a Functional or Sequential model; %r is a "
                "subclassed %s, whose layers have no symbolic outputs to tap. Build "
                "the part you want to see functionally (keras.Input -> layers -> "
                "keras.Model) and use that model inside yours." % (model.name, type(model).__name__)
            )

    def _check_probe_fits(self, model):
        arrays = self.probe.inputs
        if isinstance(arrays, dict):
            arrays = [arrays[getattr(t, "name", "")] if getattr(t, "name", "") in arrays else v
                      for t, v in zip(model.inputs, arrays.values())]
        elif not isinstance(arrays, list):
            arrays = [arrays]
        if len(arrays) != len(model.inputs):
            raise ValueError(
                "probe= gives %d input(s) but the model takes %d: %s"
                % (len(arrays), len(model.inputs), [tuple(t.shape) for t in model.inputs])
            )
        for array, symbolic in zip(arrays, model.inputs):
            expected = tuple(symbolic.shape[1:])
            got = tuple(array.shape[1:])
            fits = len(expected) == len(got) and all(
                e is None or e == g for e, g in zip(expected, got)
            )
            if not fits:
                raise ValueError(
                    "probe= does not fit the model's input: expected samples "
                    "of shape %s (batch first: (N,) + %s), got %s. Pass a batch "
                    "of model inputs such as x_val[:8]."
                    % (expected, expected, (array.shape[0],) + got)
                )

    def _layer_plugin_data(self, logged):
        g = logged.geometry
        entry = logged.entry
        return plugin_data_pb2.ActivationsPluginData(
            kind=metadata.Kind.LAYER,
            layer_path=entry.path,
            layer_index=entry.index,
            layer_class=entry.class_name,
            output_shape=[-1 if d is None else int(d) for d in entry.output_shape],
            map_kind=g.map_kind,
            num_images=self.probe.size,
            filter_indices=list(range(g.num_filters)),
            map_height=g.map_height,
            map_width=g.map_width,
            source_height=g.source_height,
            source_width=g.source_width,
            downsample_factor=g.factor,
            stat_names=list(metadata.STAT_NAMES),
        )

    # Logging -------------------------------------------------------------

    def _probe_blobs(self):
        """The probe images as PNG blobs, and their plugin data."""
        x = self.probe.first_input()
        channels_first = keras.config.image_data_format() == "channels_first"
        shown = [images.display_image(s, 2 * self.max_map_size, channels_first) for s in x]
        plugin_data = plugin_data_pb2.ActivationsPluginData(
            kind=metadata.Kind.PROBE,
            num_images=self.probe.size,
            labels=list(self.probe.labels),
            channels=shown[0][1],
        )
        return [images.encode_png(pixels) for pixels, _ in shown], plugin_data  # sizes may differ

    def _log(self, step):
        """Logs one step (and the probe images until they are written); a
        failure warns and never stops training."""
        if self._disabled or self._pipeline is None:
            return
        self._collect_write()
        if self._disabled:
            return
        try:
            layer_maps = self._summary.to_numpy(self._traced(self._probe_tensor))
            weights = [
                keras.ops.convert_to_numpy(k.kernel[..., : k.num_filters])
                for k in self._kernel_layers
            ]
            with_probe = self._probe_unwritten
            self._writer.submit(lambda: self._write(step, layer_maps, weights, with_probe))
            self._pending_step, self._pending_probe = step, with_probe
        except Exception as e:  # a logging fault must not cost the training run
            self._on_failure(step, e)
            return

    def _collect_write(self):
        """Waits for the log in flight; counts its failure against its step."""
        step, self._pending_step = self._pending_step, None
        if step is None:
            return None
        try:
            written = self._writer.wait()
        except Exception as e:
            self._on_failure(step, e)
            return None
        self._failures = 0
        if self._pending_probe:
            self._probe_unwritten = False
        if self._unreported:  # the first log's size, once it is known
            self._unreported = False
            self._report(written)
        return written

    def _encode_layer(self, maps):
        """One layer's stored maps -> (its blobs, its uint8 strips)."""
        stats = map_encoding.statistics(maps)
        strips = map_encoding.strips(maps, stats)
        stats_blob = stats.transpose(1, 0, 2).astype("<f4").tobytes()
        return [stats_blob] + self._writer.map_shares(images.encode_pngs, strips), strips

    def _write(self, step, layer_maps, kernel_weights, with_probe):
        layers = [self._encode_layer(maps) for maps in layer_maps]
        encoded = [blobs for blobs, _ in layers]
        kernel_blobs = []
        for weights in kernel_weights:
            strip, ranges = kernels_lib.kernel_strip(weights)
            kernel_blobs.append([ranges.astype("<f4").tobytes(), images.encode_png(strip)])

        probe = self._probe_blobs() if with_probe else None

        def write_all():
            if probe:
                self._summary.activations(metadata.PROBE_TAG, probe[0], step, probe[1])
            for logged, data, blobs in zip(self._logged, self._plugin_data, encoded):
                self._summary.activations(logged.tag, blobs, step, data)
            for kernel_layer, data, blobs in zip(
                self._kernel_layers, self._kernel_plugin_data, kernel_blobs
            ):
                self._summary.activations(kernel_layer.tag, blobs, step, data)
            if self.image_grids:
                for logged, (_, strips) in zip(self._logged, layers):
                    grid = images.filter_grid(strips, 0, self.probe.size)
                    self._summary.image(
                        metadata.GRID_TAG_PREFIX + logged.entry.path,
                        colormaps.apply(grid),
                        step,
                    )

        self._file_writer.write(write_all)
        per_layer = [sum(len(b) for b in blobs) for blobs in encoded]
        return per_layer + [sum(len(b) for b in blobs) for blobs in kernel_blobs]

    def _on_failure(self, step, error):
        self._failures += 1
        if self._failures >= MAX_CONSECUTIVE_FAILURES:
            self._disabled = True
            logger.warning(
                "tb_actviz: logging failed %d times in a row (last at step %d: %s); "
                "activation logging is off for the rest of this training, which goes on.",
                self._failures, step, error,
            )
        else:
            logger.warning(
                "tb_actviz: could not log step %d (%s: %s); training goes on, "
                "the next log will retry.", step, type(error).__name__, error,
            )

    def _report(self, written):
        if not self.verbose or not written:
            return
        names = [l.entry.path for l in self._logged]
        names += ["kernels of %s" % k.entry.path for k in self._kernel_layers]
        per_layer = ", ".join("%s %s" % (name, _format_bytes(n)) for name, n in zip(names, written))
        when = "every %d batches" % self.update_freq if self.update_freq != "epoch" else (
            "every epoch" if self.every_n_epochs == 1 else "every %d epochs" % self.every_n_epochs
        )
        print(
            "tb_actviz: logging %d layer(s) for %d probe image(s) to %s %s; one log "
            "writes %s (%s)" % (
                len(self._logged), self.probe.size, self.run_dir, when,
                _format_bytes(sum(written)), per_layer,
            )
        )

    def _close(self):
        writer = getattr(self, "_writer", None)
        if writer is None:
            return
        try:
            self._collect_write()
        finally:
            writer.close()
            self._writer = None
        if self._file_writer is not None:
            self._file_writer.close()
            self._file_writer = None
