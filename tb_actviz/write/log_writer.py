"""One run's logs: format a captured log and write it, off the training thread.

The training thread hands over a `capture.captured_log.CapturedLog` (host
numpy arrays) with `submit`; a background job turns it into blobs
(`format.blob_layout`), writes the layers' strips and statistics in the
plugin's own file of the log (`write.pixel_file_writer`), then the summaries
(`summary_v2`) as events, in one piece (`write.event_file_writer`). The event
comes last: a step TensorBoard lists always has its file. At most one log is in flight: the
next `submit` (or `collect`) first waits for it and counts its outcome with the
`FailurePolicy`, so a lost log is warned about and never reported as written.

The events of a log: one per tag (a LAYER tag's lists the step and holds no
blob), and one of `metadata.SUMMARIES_TAG` with every layer's per-filter
summary; a tag's metadata goes with its first event in each event file
(docs/format.md).
"""

import dataclasses
import functools
import math
import time

import numpy as np

from tensorboard.compat.proto import event_pb2

from tb_actviz import metadata
from tb_actviz.write import summary_v2
from tb_actviz.format import blob_layout
from tb_actviz.format import colormaps
from tb_actviz.format import images
from tb_actviz.write import background
from tb_actviz.write import event_file_writer
from tb_actviz.write import leftovers
from tb_actviz.write import pixel_file_writer
from tb_actviz.write import tag_series



@dataclasses.dataclass(frozen=True)
class ProbeImages:
    """The probe as the PROBE tag shows it.

    Attributes:
      inputs: the probe's first input, [N, ...] numpy.
      labels: one string per image.
      max_side: the largest side of a stored probe image.
      channels_first: the Keras image data format.
      display: what to show instead of `inputs` (`probe_display=`): uint8
        [N, H, W] gray or [N, H, W, 3] RGB of the input's height and width
        (`capture.probe_display.pictures`), stored at the size the input
        would be, unscaled; None shows `inputs`, min-max scaled per image.
    """

    inputs: object
    labels: tuple
    max_side: int
    channels_first: bool
    display: object = None


class LogWriter:
    """Writes a run's logs: the probe images once, then every layer and kernel
    tag at every step.

    Starting, it removes on its worker thread, before its first log, the
    temporaries and pixel files that killed writers left in `run_dir`
    (`write.leftovers`).

    Args:
      run_dir: the run's directory; the event file is created there on the
        first write.
      layers: a `tag_series.TagSeries` per logged layer, in capture order.
      kernels: a `TagSeries` per kernel layer.
      attributions: a `TagSeries` per attribution method, in the order of the
        captured attribution maps.
      probe: the `ProbeImages`, written with the first log that succeeds.
      failures: the `FailurePolicy` that counts lost logs.
      image_grids: also write each layer's first-image grid as a standard
        Images-tab summary (`tag_series.grid_tag`).
      on_first_written: called once with the bytes per tag of the first log
        that reached the disk.
    """

    def __init__(self, run_dir, layers, kernels, probe, failures, image_grids=False,
                 on_first_written=None, attributions=()):
        self._layers = layers
        self._kernels = kernels
        self._attributions = attributions
        self._probe = probe
        self._failures = failures
        self._image_grids = image_grids
        self._on_first_written = on_first_written
        # A tag's metadata only with its first event in each file (docs/format.md).
        self._events = event_file_writer.EventFileWriter(run_dir, metadata_once=True)
        self._pixel_files = pixel_file_writer.PixelFileWriter(run_dir)
        self._worker = background.BackgroundWorker()
        # What killed writers left in the run dir goes first, off the training thread.
        self._worker.run_first(functools.partial(leftovers.clean, run_dir))
        self._encode_pngs = functools.partial(self._worker.map_shares, images.encode_pngs)
        self._in_flight = None  # (step, with_probe)
        self._probe_written = False

    def submit(self, step, captured):
        """Starts writing `captured` as `step` in the background, after the
        log in flight (whose outcome this counts). Never raises."""
        self.collect()
        if self._failures.disabled:
            return
        with_probe = not self._probe_written
        try:
            self._worker.submit(lambda: self._write(step, captured, with_probe))
        except Exception as e:  # the interpreter is exiting: no new threads
            self._failures.failed(step, e)
            return
        self._in_flight = (step, with_probe)

    def capture_and_submit(self, step, capture):
        """Once the log in flight is counted, runs `capture()` (on the
        calling, training thread: it returns a `CapturedLog`) and submits
        its result as `step`. A failure is counted and warned about by the
        `FailurePolicy`, never raised: a logging fault must not cost the
        training run."""
        self.collect()
        if self._failures.disabled:
            return
        try:
            captured = capture()
        except Exception as e:  # noqa: BLE001 - warned about, counted
            self._failures.failed(step, e)
            return
        self.submit(step, captured)

    def collect(self):
        """Waits for the log in flight and counts its outcome."""
        if self._in_flight is None:
            return
        (step, with_probe), self._in_flight = self._in_flight, None
        try:
            written = self._worker.wait()
        except Exception as e:  # a logging fault must not cost the training run
            self._failures.failed(step, e)
            return
        self._failures.succeeded()
        self._probe_written = self._probe_written or with_probe
        if self._on_first_written is not None:
            report, self._on_first_written = self._on_first_written, None
            report(written)

    def close(self):
        """Writes the log in flight, then closes the worker and the file."""
        try:
            self.collect()
        finally:
            self._worker.close()
            self._events.close()

    def _write(self, step, captured, with_probe):
        """The background job: returns the bytes of each layer, kernel and
        attribution tag."""
        summaries, pixels, sizes, layer_summaries = [], [], [], []
        if with_probe:
            summaries.append(self._probe_summary())
        encoded = self._layer_blobs(captured.layer_maps)
        for series, (blobs, summary, strips) in zip(self._layers, encoded):
            pixels.append((series.tag, blobs))
            # The step's event holds no blob: TensorBoard keeps every one in
            # memory; the summary goes to the log's SUMMARIES event.
            summaries.append(summary_v2.activations_pb(series.tag, [], series.plugin_data))
            layer_summaries.append((series.tag, summary))
            sizes.append(sum(len(b) for b in blobs) + len(summary))
            if self._image_grids:
                grid = images.filter_grid(strips, 0, series.plugin_data.num_images)
                summaries.append(summary_v2.grid_image_pb(
                    tag_series.grid_tag(series.plugin_data.layer_path),
                    colormaps.apply(grid),
                ))
        if layer_summaries:
            summaries.append(summary_v2.layer_summaries_pb(layer_summaries))
        for series, weights in zip(self._kernels, captured.kernel_weights):
            blobs = blob_layout.kernel_blobs(weights)
            summaries.append(summary_v2.activations_pb(series.tag, blobs, series.plugin_data))
            sizes.append(sum(len(b) for b in blobs))
        for series, maps in zip(self._attributions, captured.attribution_maps):
            blobs, record = blob_layout.attribution_blobs(maps, captured.predictions, self._encode_pngs)
            pixels.append((series.tag, blobs))
            summaries.append(summary_v2.activations_pb(series.tag, [record], series.plugin_data))
            sizes.append(sum(len(b) for b in blobs) + len(record))
        wall_time = time.time()
        pixel_file = self._pixel_files.write(step, wall_time, pixels) if pixels else None
        try:
            self._events.write_events(
                [event_pb2.Event(wall_time=wall_time, step=step, summary=s) for s in summaries]
            )
        except OSError:
            if pixel_file is not None:
                self._pixel_files.remove(pixel_file)  # no step refers to it
            raise
        return sizes

    def _layer_blobs(self, layer_maps):
        """`blob_layout.layer_blobs` of each layer's maps, over the encoding
        threads: whole layers shared out by their pixels where there are
        enough of them and none outweighs a thread's share (resnet18's 16
        default layers: 18 ms against 23 ms with each layer's PNGs shared
        out, 30 ms on one thread), else each layer's PNGs."""
        threads = self._worker.threads
        pixels = [maps.size for maps in layer_maps]
        if len(pixels) >= 2 * threads and max(pixels) * threads <= sum(pixels):
            return self._worker.map_shares(_layer_blobs_of, list(layer_maps), cost=np.size)
        return [blob_layout.layer_blobs(maps, self._encode_pngs) for maps in layer_maps]

    def _probe_summary(self):
        p = self._probe
        if p.display is not None:
            blobs, channels = _display_blobs(p.display, p.max_side)
        else:
            blobs, channels = blob_layout.probe_blobs(p.inputs, p.max_side, p.channels_first)
        plugin_data = blob_layout.probe_plugin_data(p.labels, channels)
        return summary_v2.activations_pb(metadata.PROBE_TAG, blobs, plugin_data)


def _layer_blobs_of(layer_maps):
    """`blob_layout.layer_blobs` of each of a share's layers, on one thread."""
    return [blob_layout.layer_blobs(maps) for maps in layer_maps]


def _display_blobs(pictures, max_side):
    """The PROBE tag's blobs and channel count for display images uint8
    [N, H, W(, 3)]: area-downsampled by the factor the model input of that
    size gets (`images.display_image`), values kept."""
    factor = max(1, math.ceil(max(pictures.shape[1:3]) / max_side))
    shown = [np.clip(np.round(images.area_downsample(p, factor)), 0, 255).astype(np.uint8)
             for p in pictures]
    return [images.encode_png(p) for p in shown], 3 if pictures.ndim == 4 else 1
