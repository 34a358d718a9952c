"""`tb-actviz export`: the seed recipe's figures from a log dir, without TensorFlow.

Renders with Pillow, which TensorBoard already depends on (no matplotlib):

    tb-actviz export filters --logdir logs --layer conv1 --image 0 -o filters.png
    tb-actviz export images --logdir logs --layer conv1 --filter 11 -o filter11.png
    tb-actviz export evolution --logdir logs --layer conv1 --filter 11 -o filter11.gif
    tb-actviz export attention --logdir logs --method grad_cam --opacity 0.5 -o cam.png
    tb-actviz export attention-evolution --logdir logs --method saliency --image 2 -o saliency2.gif

The attention views need a log with attributions
(`ActivationLogger(..., attributions=True)`); they take no --layer.

The parts: `cli` (the command line and the checks of its values), `views`
(each view from its options to the written file), `targets` (which run,
tag, filter, image and step to draw; the errors), `layer_figures` and
`attention_figures` (the figures), `drawing` (tiles, grids, headings,
frames), `captions` (the words on the figures).
"""

from tb_actviz.export.attention_figures import (
    OVERLAY_CMAPS,
    attention_frames,
    attention_grid,
    attention_overlay,
    map_coverage,
    overlay_cmap,
)
from tb_actviz.export.captions import method_text, prediction_text
from tb_actviz.export.cli import ATTRIBUTION_METHODS, main
from tb_actviz.export.drawing import (
    TILE_SIZE,
    TITLE_HEIGHT,
    colour_tile,
    posterize,
    save_gif,
    titled_grid,
    with_heading,
)
from tb_actviz.export.layer_figures import evolution_frames, filter_across_images, filters_of_image
from tb_actviz.export.targets import ExportError
from tb_actviz.export.views import ANIMATED_VIEWS, ATTENTION_VIEWS, LAYER_VIEWS

__all__ = [
    "ANIMATED_VIEWS", "ATTENTION_VIEWS", "ATTRIBUTION_METHODS", "ExportError", "LAYER_VIEWS", "OVERLAY_CMAPS",
    "TILE_SIZE", "TITLE_HEIGHT", "attention_frames", "attention_grid", "attention_overlay", "colour_tile",
    "evolution_frames", "filter_across_images", "filters_of_image", "main", "map_coverage", "method_text",
    "overlay_cmap", "posterize", "prediction_text", "save_gif", "titled_grid", "with_heading",
]
