"""What `attributions=` asks for: shared by
the Keras callback (`capture.attribution`) and the PyTorch loggers
(`tb_actviz.torch.attribution`), which compute the same maps."""

import dataclasses

import numpy as np

LOGITS = "logits"  # Attributions(output=)

GRAD_CAM = "grad_cam"
SALIENCY = "saliency"
METHODS = (GRAD_CAM, SALIENCY)

# What the model predicted for each probe image at a log, in this order.
PREDICTION_NAMES = (
    "predicted_class",
    "predicted_score",
    "target_class",
    "target_score",
)


@dataclasses.dataclass(frozen=True)
class Attributions:
    """What `ActivationLogger(attributions=...)` computes at every log.

    Args:
      layer: the Grad-CAM layer, as in `layers=` (`"conv:-1"`, a name, a
        path into a nested model): one layer with maps larger than 1x1.
        Default: the last convolution layer whose maps are larger than 1x1,
        nested models included.
      target: the class whose score is explained: None (default) for the
        probe's true label when it has labels, else the predicted class;
        `"predicted"` for the predicted class; or a class index.
      output: what the model's output is. None (default): found from the
        model. Keras: a classifier's output being one with a final softmax
        or sigmoid (nested models included; it is left out of the scores),
        or logits trained with a crossentropy loss with `from_logits=True`;
        any other output (a regression's) is refused at train begin.
        PyTorch: the output is class logits, unless the forward ends in a
        `Softmax`, `LogSoftmax` or `Sigmoid` module, which is left out.
        `"logits"`: the output is class logits, whatever the loss (a custom
        training step, a loss tb_actviz does not know); the recorded scores
        are their softmax (sigmoid for one unit).

    Raises:
      ValueError: (at train begin) `output="logits"` for a model whose output
        ends in a softmax or sigmoid.
    """

    layer: object = None
    target: object = None
    output: object = None


def parse(attributions, layer_types=()):
    """The `attributions=` argument -> an `Attributions`, or None for off.

    True means the defaults; a string, an index, a layer (of `layer_types`)
    selects the Grad-CAM layer.

    Raises:
      TypeError: an argument of another kind.
      ValueError: a target that is neither None, "predicted" nor a class
        index; an output that is neither None nor "logits".
    """
    if attributions is None or attributions is False:
        return None
    if attributions is True:
        result = Attributions()
    elif isinstance(attributions, Attributions):
        result = attributions
    elif (isinstance(attributions, (str, int, np.integer) + tuple(layer_types))
          and not isinstance(attributions, bool)):
        result = Attributions(layer=attributions)
    else:
        raise TypeError(
            "attributions= must be True, a layer selector such as 'conv:-1' or a layer, or "
            "tb_actviz.Attributions(layer=..., target=...); got %r" % (attributions,)
        )
    target = result.target
    if not (target is None or target == "predicted" or
            (isinstance(target, (int, np.integer)) and not isinstance(target, bool) and target >= 0)):
        raise ValueError(
            "Attributions(target=) must be None (the true label, else the predicted "
            "class), 'predicted', or a class index >= 0; got %r" % (target,)
        )
    if result.output not in (None, LOGITS):
        raise ValueError(
            "Attributions(output=) must be None (found from the model's final "
            "activation and loss) or 'logits'; got %r" % (result.output,)
        )
    return result


def fixed_targets(class_ids, target, probe_size, num_classes):
    """The class each probe image's score explains, int32 [N], or None for
    the predicted class at each log.

    Raises:
      ValueError: a class outside the model's classes.
    """
    if target == "predicted" or (target is None and class_ids is None):
        return None
    classes = [target] * probe_size if target is not None else list(class_ids)
    limit = max(num_classes, 2)
    bad = [c for c in classes if not 0 <= c < limit]
    if bad:
        raise ValueError(
            "attributions=: target class %d is not one of the model's %d classes "
            "(0 to %d)%s" % (bad[0], limit, limit - 1,
                             "" if target is not None else "; check the probe's labels")
        )
    return np.asarray(classes, dtype="int32")


def target_source(targets, target):
    """What the metadata says the maps explain."""
    return "predicted" if targets is None else "label" if target is None else "class %d" % target
