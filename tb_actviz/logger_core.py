"""What the Keras callback and the PyTorch logger share: their options,
checked at construction; the writer, opened once the framework's side has
found what to log; each step handed to it through the failure policy; flush,
close, and the first log's line. Each logger keeps only its own hooks: how it
finds layers, runs the probe's pass, and when it logs."""

import os

from tb_actviz import remote_files
from tb_actviz.arguments import positive_int
from tb_actviz.capture import probe as probe_lib
from tb_actviz.capture import probe_display as probe_display_lib
from tb_actviz.capture import selection
from tb_actviz.capture import token_grid as token_grid_lib
from tb_actviz.write import failure_policy
from tb_actviz.write import log_dir as log_dir_lib
from tb_actviz.write import log_writer
from tb_actviz.write import tag_series

# The seed recipe's 7x7 grid of filters.
DEFAULT_MAX_FILTERS = 49
DEFAULT_MAX_IMAGES = 16
# Small enough that TensorBoard holds 300 logged steps of VGG16's 13 conv
# layers for 2 runs in under 2 GB (benchmarks/bench_plugin.py).
DEFAULT_MAX_MAP_SIZE = 32
DEFAULT_MAX_LAYERS = selection.DEFAULT_MAX_LAYERS


class LoggerCore:
    """The framework-neutral part of an activation logger.

    A logger calls `_take_options` in its constructor, `_open_writer` once it
    knows what it logs, `_log_step` at each step and `_close_writer` at the
    end. Attributes: the checked options (`log_dir`, `layers`, `max_filters`,
    `max_images`, `max_map_size`, `max_layers`, `class_names`, `kernels`,
    `attributions`, `token_grid`, `image_grids`, `verbose`, `probe`,
    `probe_display`).
    """

    def _take_options(self, log_dir, probe, layers, max_filters, max_images, max_map_size,
                      max_layers, class_names, kernels, attributions, token_grid, image_grids,
                      verbose, probe_display, *, parse_attributions, layer_types,
                      display_channels_first):
        """Checks the options both loggers take and keeps them.

        Args:
          parse_attributions: the framework's `attributions=` parser.
          layer_types: the framework's layer classes (a `token_grid=` dict
            may be keyed by layers).
          display_channels_first: how `probe_display=` images are laid out
            (None: as the Keras image data format says).
        """
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ValueError("log_dir= must be a directory path, got %r" % (log_dir,))
        # file:///abs is the local path; a remote path with ../ or // is refused.
        self.log_dir = remote_files.log_dir_path(log_dir)
        self.layers = layers
        self.max_filters = positive_int("max_filters", max_filters)
        self.max_images = positive_int("max_images", max_images)
        self.max_map_size = positive_int("max_map_size", max_map_size)
        self.max_layers = positive_int("max_layers", max_layers)
        self.class_names = None if class_names is None else [str(n) for n in class_names]
        self.kernels = kernels
        self.attributions = parse_attributions(attributions)
        self.token_grid = token_grid_lib.parse(token_grid, layer_types)
        self.image_grids = bool(image_grids)
        self.verbose = verbose
        self.probe = probe_lib.make_probe(probe, self.max_images, class_names)
        self._display_channels_first = display_channels_first
        self.probe_display = probe_display_lib.check(
            probe_display, self.probe, channels_first=display_channels_first)
        self._writer = None
        self._failures = failure_policy.FailurePolicy()
        self._last_step = None  # of this logger's logs
        self._logged, self._kernel_layers, self._attribution = [], [], None

    def _open_writer(self, run_dir, logged, kernel_layers, attribution, step_unit, when,
                     channels_first):
        """Opens the writer of `run_dir` for what the framework's side found.

        Args:
          run_dir: the run directory (checked writable with `_check_run_dir`).
          logged: the logged layers (`entry`, `geometry`), in capture order.
          kernel_layers: the kernel layers (`entry`, `kernel_shape`, `num_filters`).
          attribution: the attribution pass (see `tag_series.attributions`), or None.
          step_unit: what a step counts: "epoch", "batch" or "".
          when: how often logs come, for the first log's line ("every epoch").
          channels_first: whether the probe's first input is laid out (N, C, ...).
        """
        self._logged, self._kernel_layers, self._attribution = logged, kernel_layers, attribution
        self._run_dir, self._when = run_dir, when
        first_input = self.probe.first_input()
        self._writer = log_writer.LogWriter(
            run_dir,
            layers=[tag_series.layer(l.entry, l.geometry, self.probe.size, step_unit) for l in logged],
            kernels=[tag_series.kernel(k.entry, k.kernel_shape, k.num_filters) for k in kernel_layers],
            probe=log_writer.ProbeImages(
                inputs=first_input,
                labels=self.probe.labels,
                max_side=2 * self.max_map_size,
                channels_first=channels_first,
                display=probe_display_lib.pictures(
                    self.probe_display, first_input, channels_first=self._display_channels_first),
            ),
            failures=self._failures,
            attributions=tag_series.attributions(
                attribution, self.probe.size, self.class_names, step_unit) if attribution else [],
            image_grids=self.image_grids,
            on_first_written=self._report if self.verbose else None,
        )

    def _check_run_dir(self, run_dir):
        """Raises ValueError, before anything is set up, unless `run_dir` can be written."""
        log_dir_lib.check_writable(run_dir, self.log_dir)

    def _log_step(self, step, capture):
        """Runs `capture()` (it returns a `CapturedLog`) on this thread and
        hands the result to the writer as `step`; a failure warns (the
        `FailurePolicy`), never raises."""
        self._last_step = step
        if self._writer is None or self._failures.disabled:
            return
        self._writer.capture_and_submit(step, capture)

    def flush(self):
        """Waits until the log in flight is on disk (or its failure is
        counted and warned about). Logs are written in the background; call
        this to read a log dir while training goes on."""
        if self._writer is not None:
            self._writer.collect()

    def _close_writer(self):
        """Writes the log in flight and closes the event file."""
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            writer.close()

    def _report(self, written):
        print(log_dir_lib.first_log_line(self._logged, self._kernel_layers, self._attribution,
                                         written, self.probe.size, self._run_dir, self._when))
