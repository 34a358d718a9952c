"""The tags a logger writes at every log, each with its constant plugin
data: every tag name of the write side is made here (`metadata` holds the
prefixes that readers match)."""

import dataclasses

from tb_actviz import metadata
from tb_actviz.capture.attribution_options import GRAD_CAM, METHODS
from tb_actviz.format import blob_layout


@dataclasses.dataclass(frozen=True)
class TagSeries:
    """A tag written at every log, and its constant plugin data."""

    tag: str
    plugin_data: object


def layer(entry, geometry, num_images, step_unit):
    """The LAYER tag of a logged layer or module.

    Args:
      entry: its listing entry (`path`, `index`, `class_name`, `output_shape`).
      geometry: its stored maps' `format.geometry.MapGeometry`.
      num_images: probe images per step.
      step_unit: what a step counts: "epoch", "batch" or "".
    """
    return TagSeries(metadata.layer_tag(entry.path), blob_layout.layer_plugin_data(
        entry.path, entry.index, entry.class_name, entry.output_shape, geometry, num_images,
        step_unit=step_unit))


def kernel(entry, kernel_shape, num_filters):
    """The KERNELS tag of a convolution whose kernels (kh, kw, in, out)
    `kernel_shape` are logged, the first `num_filters` of them."""
    return TagSeries(metadata.KERNEL_TAG_PREFIX + entry.path, blob_layout.kernel_plugin_data(
        entry.path, entry.index, entry.class_name, kernel_shape, num_filters))


def attributions(pipeline, num_images, class_names, step_unit):
    """The ATTRIBUTION tag of each method, in `attribution_options.METHODS` order,
    for an attribution pass with `cam_entry`, `cam_geometry`,
    `saliency_geometry`, `target_source` and `probability`."""
    return [
        TagSeries(metadata.attribution_tag(method), blob_layout.attribution_plugin_data(
            method,
            pipeline.cam_entry if method == GRAD_CAM else None,
            pipeline.cam_geometry if method == GRAD_CAM else pipeline.saliency_geometry,
            num_images,
            pipeline.target_source,
            pipeline.probability,
            class_names or (),
            step_unit,
        ))
        for method in METHODS
    ]


def grid_tag(layer_path):
    """The Images-tab tag of a layer's first-image grid (`image_grids=True`)."""
    return metadata.GRID_TAG_PREFIX + layer_path
