"""What the probe images show: `ActivationLogger(probe_display=...)`.

By default the PROBE tag shows the probe as the model receives it, scaled to
0-255 per image. A preprocessed probe (VGG16's `preprocess_input`: RGB to
BGR, ImageNet means subtracted) then shows swapped, shifted colours, in the
probe panel, the top images, every overlay and the Attention view alike (all
of them, and `tb-actviz export`, read the PROBE tag). `probe_display=` gives
the pictures instead: display images, a callable mapping the model's input
batch to them, or a `keras.applications` preprocessing mode whose inverse is
applied.

Whatever is shown covers the model's input, as every overlay assumes: images
of the model input's size are used as they are; images of another size with
the same aspect ratio (within a pixel) are resized to it (Lanczos); any other
size is refused, since stretched over the maps it would put every heatmap in
the wrong place.
"""

import numpy as np
from PIL import Image

# keras.applications' `preprocess_input` modes, each undone by `_undo`.
MODES = ("caffe", "torch", "tf")
_CAFFE_BGR_MEANS = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
# Floats of display images are 0..1; rounding errors of an inverse are let through.
_FLOAT_SLACK = 1e-3

_WHAT = (
    "display images (N, H, W, 3) RGB or (N, H, W, 1) / (N, H, W) gray, uint8 0..255 or "
    "float 0..1, a callable mapping the model's input batch to such images, or one of "
    "%s (the inverse of keras.applications' preprocess_input in that mode)"
    % ", ".join(repr(m) for m in MODES)
)


def _channels_first(channels_first=None):
    """The layout of image batches: given (PyTorch: True), else Keras's
    image data format."""
    if channels_first is not None:
        return channels_first
    import keras

    return keras.config.image_data_format() == "channels_first"


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor, maybe on a device or with grad
        value = value.detach().cpu()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value)


def _given_count(probe):
    """The number of images of `probe` (a `probe.Probe`) as given, before
    `max_images`."""
    shapes = probe.given_shapes
    if isinstance(shapes, dict):
        shapes = list(shapes.values())
    if isinstance(shapes, list):
        shapes = shapes[0] if shapes else ()
    return shapes[0] if shapes else probe.size


def _channels_last(images, what, channels_first=None):
    """`images` [N, H, W(, C)] as [N, H, W] gray or [N, H, W, 3] RGB; a
    channels-first [N, C, H, W] batch is taken as such under Keras's
    channels_first image data format.

    Raises:
      ValueError: not a batch of 1- or 3-channel images.
    """
    shape = images.shape
    channels_first = _channels_first(channels_first)
    if images.ndim == 4 and channels_first and shape[1] in (1, 3, 4):
        images = np.moveaxis(images, 1, -1)
    elif images.ndim == 4 and shape[-1] not in (1, 3, 4) and shape[1] in (1, 3):
        raise ValueError(
            "%s has shape %s, channels first, but Keras's image data format is "
            "channels_last: pass (N, H, W, C), e.g. np.moveaxis(images, 1, -1)" % (what, shape))
    if images.ndim == 4 and images.shape[-1] == 4:
        raise ValueError(
            "%s has 4 channels (shape %s): pass RGB or gray images; drop the alpha "
            "channel with images[..., :3]" % (what, shape))
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3):
        return images
    raise ValueError(
        "%s has shape %s, which is no batch of images: expected %s" % (what, shape, _WHAT))


def _as_uint8(images, what):
    """Display pixels of integer 0..255 or float 0..1 `images`.

    Raises:
      ValueError: another dtype, non-finite values, or values out of range
        (with what they look like).
    """
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.integer):
        if images.size and (images.min() < 0 or images.max() > 255):
            raise ValueError(
                "%s holds integers from %d to %d: integer images are 0..255 (uint8)"
                % (what, images.min(), images.max()))
        return images.astype(np.uint8)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError("%s is of dtype %s, not an image: expected %s" % (what, images.dtype, _WHAT))
    if not np.isfinite(images).all():
        raise ValueError("%s holds NaN or infinite values: display images are uint8 0..255 or "
                         "float 0..1" % what)
    low, high = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
    if low < -_FLOAT_SLACK or high > 1 + _FLOAT_SLACK:
        if low >= 0 and high <= 255:
            hint = ("they look like 0..255 pixel values: pass images / 255 or "
                    "images.astype('uint8')")
        else:
            hint = ("they look like preprocessed model inputs: pass the images before "
                    "preprocessing, a callable that undoes it, or one of %s"
                    % ", ".join(repr(m) for m in MODES))
        raise ValueError("%s holds floats from %g to %g, but float display images are 0..1: %s"
                         % (what, low, high, hint))
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def _checked_images(value, count, what, given_count=None, channels_first=None):
    """`value` as uint8 display images [count, H, W(, 3)].

    Args:
      value: what was given (or what a callable returned).
      count: the number of probe images used.
      what: how messages name `value`.
      given_count: the number of probe images as given, also accepted (the
        first `count` are used).
    """
    try:
        images = _to_numpy(value)
    except Exception as e:  # noqa: BLE001 - whatever it is, it is no image batch
        raise ValueError("%s is a %s, not images: expected %s" % (what, type(value).__name__, _WHAT)) from e
    counts = sorted({count, given_count or count})
    if images.ndim not in (3, 4) or 0 in images.shape[1:]:
        raise ValueError("%s has shape %s, which is no batch of images: expected %s"
                         % (what, images.shape, _WHAT))
    if len(images) not in counts:
        hint = ""
        if images.ndim == 3 and images.shape[-1] in (1, 3):
            hint = " (shape %s looks like one image: pass a batch, e.g. images[:%d])" % (
                images.shape, counts[-1])
        raise ValueError(
            "%s holds %d images but the probe %s: pass one display image per probe image, "
            "in the probe's order%s" % (
                what, len(images),
                "has %d" % count if len(counts) == 1
                else "has %d (%d used, max_images)" % (counts[-1], count), hint))
    return _as_uint8(_channels_last(images, what, channels_first), what)[:count]


def check(display, probe, channels_first=None):
    """Checks the `probe_display=` argument at construction.

    Args:
      display: None, a mode of `MODES`, a callable, or display images.
      probe: the `probe.Probe` (after `max_images`).

    Returns:
      None, the mode, the callable, or the images as uint8 [N, H, W] gray or
      [N, H, W, 3] RGB (the first `probe.size`).

    Raises:
      ValueError: an unknown mode, or images that are not one display image
        per probe image.
    """
    if display is None or callable(display):
        return display
    if isinstance(display, str):
        if display not in MODES:
            raise ValueError("probe_display=%r is no preprocessing mode: expected %s"
                             % (display, _WHAT))
        return display
    return _checked_images(display, probe.size, "probe_display=", _given_count(probe),
                           channels_first)


def _image_size(model_input, channels_first=None):
    """(H, W) of the model input's samples as the PROBE tag shows them.

    Raises:
      ValueError: the samples are not images.
    """
    sample = model_input.shape[1:]
    if len(sample) == 3:
        return tuple(sample[1:]) if _channels_first(channels_first) else tuple(sample[:2])
    if len(sample) == 2:
        return tuple(sample)
    raise ValueError(
        "probe_display= needs image inputs, (H, W, C) per sample, to lay the display images "
        "under the maps; the model's (first) input has samples of shape %s" % (tuple(sample),))


def _undo(mode, model_input, channels_first=None):
    """The images that `preprocess_input(images, mode=mode)` made
    `model_input`, as float 0..1 (clipped)."""
    x = np.asarray(model_input, dtype=np.float64)
    if mode == "tf":
        return np.clip((x + 1.0) / 2.0, 0.0, 1.0)
    channels_first = _channels_first(channels_first)
    axis = 1 if channels_first else -1
    if x.ndim != 4 or x.shape[axis] != 3:
        raise ValueError(
            "probe_display=%r undoes the %r preprocessing of 3-channel images, but the model's "
            "input batch has shape %s (%s)" % (mode, mode, x.shape,
                                               "channels first" if channels_first else "channels last"))
    shape = [1, 1, 1, 1]
    shape[axis] = 3
    if mode == "caffe":  # BGR, means subtracted
        rgb = np.flip(x + np.reshape(_CAFFE_BGR_MEANS, shape), axis=axis)
        return np.clip(rgb / 255.0, 0.0, 1.0)
    return np.clip(x * np.reshape(_TORCH_STD, shape) + np.reshape(_TORCH_MEAN, shape), 0.0, 1.0)


def _same_aspect(size, target):
    """Whether `size` (H, W) scaled to `target`'s width or height is within
    a pixel of `target`."""
    (h, w), (th, tw) = size, target
    return abs(h * tw / w - th) <= 1 and abs(w * th / h - tw) <= 1


def _resized(images, size):
    """uint8 images [N, h, w(, 3)] resized to `size` (H, W), Lanczos."""
    height, width = size
    return np.stack([
        np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
        for image in images
    ])


def pictures(display, model_input, channels_first=None):
    """The probe's display images, at train begin.

    Args:
      display: what `check` returned.
      model_input: the probe's first model input, numpy [N, ...] (after
        `max_images`), as the model receives it.
      channels_first: whether image batches are (N, C, H, W); None: Keras's
        image data format.

    Returns:
      None (show `model_input`), or uint8 [N, H, W] gray or [N, H, W, 3] RGB
      of the model input's height and width.

    Raises:
      ValueError: the model input is no image, a mode that does not fit it,
        a callable that fails or returns no display images, or images whose
        aspect ratio differs from the model input's.
    """
    if display is None:
        return None
    model_input = np.asarray(model_input)
    size = _image_size(model_input, channels_first)
    count = len(model_input)
    if isinstance(display, str):
        images = _checked_images(_undo(display, model_input, channels_first), count,
                                 "probe_display=%r" % display, channels_first=channels_first)
    elif callable(display):
        name = getattr(display, "__name__", type(display).__name__)
        what = "probe_display= callable %s" % name
        try:
            returned = display(np.array(model_input))  # a copy: preprocess_input works in place
        except Exception as e:
            raise ValueError("%s failed on the probe's model input batch (shape %s): %s: %s"
                             % (what, model_input.shape, type(e).__name__, e)) from e
        images = _checked_images(returned, count, what + " returned a value that",
                                 channels_first=channels_first)
    else:
        images = display[:count]
    given = tuple(images.shape[1:3])
    if given == size:
        return images
    if not _same_aspect(given, size):
        raise ValueError(
            "probe_display= images are %dx%d (height x width) but the model's input is %dx%d: "
            "every overlay lays the maps over the displayed image as over the model's input, "
            "so it must show the same picture, at that size or another of the same aspect "
            "ratio (then resized). Crop the display images as the model's input was cropped, "
            "or pass a callable that maps the model's input batch to them" % (given + size))
    return _resized(images, size)

