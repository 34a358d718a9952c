"""Small real runs written by tb_actviz's own writer (`write.log_writer.LogWriter`),
without Keras: known maps, kernels and attribution maps in, files on disk out.
The unit tests of the writer and of `LogReader` read them back
(tests/unit/write/test_log_writer.py, tests/unit/test_reader.py)."""

import dataclasses
import types

import numpy as np

from tb_actviz.capture.captured_log import CapturedLog
from tb_actviz.format.geometry import MapGeometry
from tb_actviz.write import failure_policy, log_writer, tag_series

N, F, H, W = 3, 4, 5, 6  # probe images, filters, map height and width
LAYER = "block/conv"
KERNEL_LAYER = "first"
KERNEL_SHAPE = (3, 3, 3, 2)  # kh, kw, in, out: RGB patches
CLASS_NAMES = ("cat", "dog")
LABELS = ("cat", "dog", "cat")
PROBE_SIDE = 8


def entry(path, index=0, class_name="Conv2D", output_shape=(H, W, F)):
    """What the tag series need of a layer (`capture.layer_tree.LayerEntry`)."""
    return types.SimpleNamespace(path=path, index=index, class_name=class_name, output_shape=output_shape)


def layer_maps(step):
    """float32 [N, F, H, W] of `step`: each map on a range of its own."""
    rng = np.random.default_rng(100 + step)
    scale = 1.0 + np.arange(N * F, dtype=np.float32).reshape(N, F, 1, 1)
    return (rng.normal(size=(N, F, H, W)) * scale - step).astype(np.float32)


def kernel_weights(step):
    return np.random.default_rng(200 + step).normal(size=KERNEL_SHAPE).astype(np.float32)


def attribution_maps(step):
    """Grad-CAM and saliency maps, float32 [N, 1, H, W] each."""
    rng = np.random.default_rng(300 + step)
    return [rng.uniform(0, 1 + m, size=(N, 1, H, W)).astype(np.float32) for m in range(2)]


def predictions(step):
    """float32 [N, 4]: predicted class and score, target class and score."""
    return np.array([[i % 2, 0.5 + 0.1 * i, (i + step) % 2, 0.25] for i in range(N)], np.float32)


def probe_inputs():
    """The probe's first input [N, 2 * PROBE_SIDE, 2 * PROBE_SIDE, 1]: stored at PROBE_SIDE."""
    return np.random.default_rng(0).uniform(-1, 1, size=(N, 2 * PROBE_SIDE, 2 * PROBE_SIDE, 1))


@dataclasses.dataclass
class WrittenRun:
    run_dir: str
    steps: list
    layer_tag: str
    kernel_tag: str
    attribution_tags: list
    first_written: list  # what on_first_written was called with


def write_run(run_dir, steps=(0, 1, 2), kernels=True, attributions=True, image_grids=False,
              display=None):
    """Writes `steps` of one layer (and kernels, attributions) to `run_dir`
    with a `LogWriter`, as the loggers do, and closes it."""
    geometry = MapGeometry("maps", False, H, W, F, 1)
    layers = [tag_series.layer(entry(LAYER), geometry, N, "epoch")]
    kernel_series = [tag_series.kernel(entry(KERNEL_LAYER), KERNEL_SHAPE, KERNEL_SHAPE[3])] if kernels else []
    pipeline = types.SimpleNamespace(
        cam_entry=entry(LAYER), cam_geometry=geometry,
        saliency_geometry=MapGeometry("maps", False, H, W, 1, 1),
        target_source="label", probability="softmax")
    attribution_series = tag_series.attributions(pipeline, N, CLASS_NAMES, "epoch") if attributions else ()
    probe = log_writer.ProbeImages(inputs=probe_inputs(), labels=LABELS, max_side=PROBE_SIDE,
                                   channels_first=False, display=display)
    first_written = []
    writer = log_writer.LogWriter(
        run_dir, layers, kernel_series, probe, failure_policy.FailurePolicy(), image_grids=image_grids,
        on_first_written=first_written.append, attributions=attribution_series)
    for step in steps:
        writer.submit(step, CapturedLog(
            layer_maps=[layer_maps(step)],
            kernel_weights=[kernel_weights(step)] if kernels else [],
            attribution_maps=attribution_maps(step) if attributions else (),
            predictions=predictions(step) if attributions else None,
        ))
    writer.close()
    return WrittenRun(str(run_dir), list(steps), layers[0].tag,
                      kernel_series[0].tag if kernels else None,
                      [s.tag for s in attribution_series], first_written)
