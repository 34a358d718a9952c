"""What a Keras model's output is, for attributions: class scores and how
probabilities are made from them (a final softmax or sigmoid, which
Grad-CAM leaves out, or logits that the compiled loss or the user vouches
for), and whether the model has the one image input and one classifier
output that attributions need."""

import keras

from tb_actviz.capture.attribution_options import LOGITS


def final_activation(op):
    """'softmax', 'sigmoid' or None: what `op` applies last (a layer's
    `activation`, which an `Activation` layer has too, or a `Softmax` layer)."""
    name = type(op).__name__
    if name == "Softmax":
        return "softmax"
    activation = getattr(op, "activation", None)
    for candidate in ("softmax", "sigmoid"):
        if activation is getattr(keras.activations, candidate):
            return candidate
    return None


# The crossentropies whose from_logits=True says the output is logits, and
# how probabilities are made from those logits.
_LOGIT_LOSSES = {
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "categorical_focal_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
    "binary_focal_crossentropy": "sigmoid",
}


def _compiled_loss(model):
    """The loss `model` was compiled with (the one of its single output), or None."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    elif isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    return loss


def _loss_kind(loss):
    """(the loss function's name or None, from_logits) of a compiled loss: a
    name ('mse'), a function or a `keras.losses.Loss`."""
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except (ValueError, TypeError):
            return None, False
    function = getattr(loss, "fn", loss)
    name = getattr(function, "__name__", None)
    kwargs = getattr(loss, "_fn_kwargs", None) or {}
    from_logits = bool(getattr(loss, "from_logits", kwargs.get("from_logits", False)))
    return name, from_logits


def _loss_text(loss):
    if loss is None:
        return "the model is not compiled (no loss)"
    if isinstance(loss, str):
        return "its loss is %r" % loss
    return "its loss is %s" % getattr(loss, "__name__", type(loss).__name__)


def check_model(trace):
    """Raises a ValueError at train begin unless attributions can be computed
    from the traced pass: one image input (batch, height, width, channels)
    and one output (batch, classes)."""
    inputs = trace.input_shapes
    if isinstance(inputs, dict) and len(inputs) == 1:
        inputs = next(iter(inputs.values()))
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    if not (isinstance(inputs, tuple) and len(inputs) == 3):
        raise ValueError(
            "attributions= needs a model with one image input (batch, height, "
            "width, channels); this model takes %s (without the batch axis)" % (inputs,)
        )
    if trace.output_shape is None or len(trace.output_shape) != 1:
        raise ValueError(
            "attributions= needs a classifier with one output (batch, classes); this "
            "model gives %s" % ("several outputs" if trace.output_shape is None
                                else "(batch,) + %s" % (trace.output_shape,))
        )
    return inputs


def classifier_probability(model, trace, output=None):
    """How class probabilities are made from the scores of a classifier's
    output: "softmax" or "sigmoid" (one unit, a sigmoid output, logits
    trained with a binary crossentropy).

    Args:
      model: the model (its compiled loss is read).
      trace: the traced pass (`layer_calls.trace`): its output's layers.
      output: `Attributions.output`.

    Raises:
      ValueError: the output is not a classifier's (a regression's: no final
        softmax or sigmoid, and no crossentropy with `from_logits=True`), or
        `output="logits"` for an output that ends in a softmax or sigmoid.
    """
    num_classes = int(trace.output_shape[0])
    op = trace.output_layers[0] if trace.output_layers else None
    units = "%d unit%s" % (num_classes, "" if num_classes == 1 else "s")
    if op is None:
        described = ("(%s) is computed outside any layer (an op in call(); a softmax there "
                     "cannot be left out: make it a layer, keras.layers.Softmax())" % units)
    else:
        described = "%s (%s, %s)" % (
            "/".join(o.name for o in reversed(trace.output_layers)), type(op).__name__, units)
    final = final_activation(op) if op is not None else None
    if output == LOGITS:
        if final:
            raise ValueError(
                "Attributions(output='logits') says the model's output is class logits, "
                "but its output %s ends in a %s; leave output= out: tb_actviz then "
                "explains the logits before the %s" % (described, final, final)
            )
        return "sigmoid" if num_classes == 1 else "softmax"
    if final:
        return "sigmoid" if num_classes == 1 or final == "sigmoid" else "softmax"
    loss = _compiled_loss(model)
    name, from_logits = _loss_kind(loss) if loss is not None else (None, False)
    probability = _LOGIT_LOSSES.get(name)
    if probability and from_logits and (probability == "sigmoid" or num_classes > 1):
        return "sigmoid" if num_classes == 1 else probability
    loss_text = _loss_text(loss)
    if probability and not from_logits:
        loss_text += ", which takes probabilities (from_logits=False)"
    raise ValueError(
        "attributions= needs a classifier's output: one with a final softmax or "
        "sigmoid (a layer's activation, an Activation or Softmax layer, nested "
        "models included), or logits trained with a crossentropy loss with "
        "from_logits=True; this model's output %s has no final softmax or sigmoid "
        "and %s. Give the classifier a softmax or sigmoid output, compile it with "
        "e.g. keras.losses.SparseCategoricalCrossentropy(from_logits=True), or pass "
        "Attributions(output='logits') if its output is class logits"
        % (described, loss_text)
    )
