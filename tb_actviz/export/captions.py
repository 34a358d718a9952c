"""The words on the exported figures: tile titles, frame titles and headings
(what a figure shows: run, layer or method, step, image, filter, colormap),
and the prediction text the Attention view words as the tab does."""

import numpy as np

from tb_actviz import wording

_SEPARATOR = wording.SEPARATOR


def step_text(info, step):
    """"epoch 12", "batch 300", or "step 12" where the log does not say."""
    return wording.step_text(info.step_unit, step)


def filter_title(index):
    """A filter's tile in the filters grid: "filter: 11"."""
    return "filter: %d" % index


def image_title(index, labels):
    """A probe image's tile in the images grid: "image: 3 cat" (its label, if any)."""
    return ("image: %d %s" % (index, labels[index] if index < len(labels) else "")).strip()


def step_title(step):
    """A frame of a filter's evolution: "step: 12"."""
    return "step: %d" % step


def _class_text(snapshot, value):
    return snapshot.class_name(value) if np.isfinite(value) else wording.UNKNOWN_VALUE


def _score_text(value):
    return wording.score_text(value, np.isfinite(value))


def prediction_text(snapshot, image):
    """"predicted: face 0.93 (true: face)": the model's prediction for probe
    image `image` ("predicted: not finite" where its output was NaN or
    infinite) and, unless the map explains the prediction, the class it
    explains: the true label, or a fixed class with its score ("(explained:
    owl 0.12)"), as the tab's Attention view words it."""
    field = snapshot.field
    predicted_class = field("predicted_class")[image]
    if np.isfinite(predicted_class):
        text = "%s %s %s" % (wording.PREDICTED, _class_text(snapshot, predicted_class),
                             _score_text(field("predicted_score")[image]))
    else:  # the model's output was NaN or infinite: no prediction
        text = "%s %s" % (wording.PREDICTED, wording.NOT_FINITE)
    target = snapshot.info.attribution_target
    explained = _class_text(snapshot, field("target_class")[image])
    if target == "label":
        text += " %s %s)" % (wording.TRUE_LABEL, explained)
    elif target != "predicted":
        text += " %s %s %s)" % (wording.EXPLAINED, explained, _score_text(field("target_score")[image]))
    return text


def attention_title(snapshot, image):
    """A probe image's tile in the attention grid: its index and the prediction."""
    return "%d %s" % (image, prediction_text(snapshot, image))


def attention_frame_title(snapshot, image):
    """A frame of an image's attention over training: the step and the prediction."""
    return _SEPARATOR.join([step_text(snapshot.info, snapshot.step), prediction_text(snapshot, image)])


def method_text(info):
    """What an attribution tag's maps are, for headings."""
    return wording.method_text(info.attribution_method, info.layer_path)


def filters_heading(run, layer, step, image, label, cmap):
    """Above the filters grid: "train · conv1 · epoch 3 · image 0 (cat) · viridis"."""
    return _SEPARATOR.join([run, layer, step, "image %d%s" % (image, " (%s)" % label if label else ""), cmap])


def images_heading(run, layer, step, filter_index, cmap):
    """Above the images grid: "train · conv1 · epoch 3 · filter 11 · viridis"."""
    return _SEPARATOR.join([run, layer, step, "filter %d" % filter_index, cmap])


def evolution_heading(run, layer, filter_index, image):
    """Above each frame of a filter's evolution: "train · conv1 · filter 11 · image 0"."""
    return _SEPARATOR.join([run, layer, "filter %d" % filter_index, "image %d" % image])


def attention_heading(info, run, step, cmap):
    """Above the attention grid: "train · Grad-CAM of conv2 · epoch 3 · jet"."""
    return _SEPARATOR.join([run, method_text(info), step_text(info, step), cmap])


def attention_evolution_heading(info, run, image, cmap):
    """Above each frame of an image's attention over training: "train · saliency (...) · image 2 · jet"."""
    return _SEPARATOR.join([run, method_text(info), "image %d" % image, cmap])
