"""Where the model looks: Grad-CAM and input-gradient saliency of the probe.

One forward and one backward pass of the probe give both maps. The forward
pass is the model's own, `model(x, training=False)`, with the Grad-CAM
layer's first call intercepted (`layer_calls`) to add a zero tensor `delta`
to its output, so that `d score / d delta` is the score's gradient with
respect to that layer's maps wherever the layer sits (nested models, custom
layers, subclassed models), and on every backend (JAX cannot differentiate
with respect to an intermediate tensor; it can with respect to an argument). `delta` has that layer's
dtype, so a mixed-precision model runs at its own dtypes; the score is taken
in float32 and everything stored is float32.

The score is the target class's logit: a final softmax (or sigmoid) is left
out, as Grad-CAM prescribes, so that the maps do not fade as the model grows
confident. The final activation is that of the innermost layer that returns
the model's output (a head that is a nested Sequential ending in
Dense(activation="softmax"), a last Activation or Softmax layer, in any kind
of model; the traced pass says which); an output without one counts as
logits only when the compiled loss says so (a crossentropy with
`from_logits=True`) or the user does (`Attributions(output="logits")`).

Written with `keras.ops`; `capture.backends` differentiates and compiles it.
"""

import functools

import keras
from keras import ops

from tb_actviz.capture import attribution_options
from tb_actviz.capture import backends
from tb_actviz.capture import classifier_output
from tb_actviz.capture import extractor
from tb_actviz.capture import layer_calls
from tb_actviz.capture import layer_selection
from tb_actviz.capture import layer_tree
from tb_actviz.format import geometry as geometry_lib

from tb_actviz.capture.attribution_options import (  # noqa: F401 - this module's API too
    GRAD_CAM, LOGITS, METHODS, PREDICTION_NAMES, SALIENCY, Attributions)


def parse(attributions):
    """The `attributions=` argument -> an `Attributions`, or None for off
    (`attribution_options.parse`; a Keras layer selects the Grad-CAM layer)."""
    return attribution_options.parse(attributions, (keras.layers.Layer,))


def _spatial_shape(entry):
    """(h, w, channels, channels_first) of a layer with 2-D maps, else None."""
    shape = entry.output_shape
    if shape is None or len(shape) != 3 or None in shape:
        return None
    channels_first = entry.channels_first
    h, w, c = (shape[1], shape[2], shape[0]) if channels_first else shape
    return h, w, c, channels_first


def _has_maps(entry):
    spatial = _spatial_shape(entry)
    return entry.loggable and spatial is not None and spatial[0] * spatial[1] > 1


def select_cam_layer(model, layer=None, entries=None):
    """The Grad-CAM layer's `LayerEntry`; `entries`: the model's
    `walk_layers` listing, if already taken.

    Raises:
      ValueError: no layer qualifies, or `layer` selects something else than
        one layer with 2-D maps larger than 1x1.
    """
    if entries is None:
        entries = layer_tree.walk_layers(model)
    if layer is None:
        candidates = [e for e in layer_selection.conv_layers(entries) if _has_maps(e)]
        if not candidates:
            raise ValueError(
                "attributions=: the model has no convolution layer with maps larger "
                "than 1x1 for Grad-CAM; name one with Attributions(layer=...)"
            )
        return candidates[-1]
    chosen = layer_selection.select_layers(
        model, layer, argument="Attributions(layer=)", entries=entries)
    if len(chosen) != 1:
        raise ValueError(
            "Attributions(layer=%r) selects %d layers (%s); Grad-CAM needs one"
            % (layer, len(chosen), ", ".join(e.path for e in chosen))
        )
    entry = chosen[0]
    if not _has_maps(entry):
        raise ValueError(
            "Attributions(layer=%r) selects %s, output shape %s: Grad-CAM needs a "
            "layer with 2-D maps larger than 1x1 (batch, height, width, channels), "
            "such as 'conv:-1'" % (layer, entry.path, entry.output_shape)
        )
    return entry


class AttributionPipeline(backends.ModelPipeline):
    """Probe batch -> Grad-CAM maps, saliency maps and the model's predictions.

    `forward(x, delta)` returns the summed target score (what is
    differentiated) and what `finish` needs; a call differentiates it with
    the backend's autodiff (`backends.gradients`, with respect to `x` and
    `delta`) and returns what `finish` makes of it:
    [grad_cam float32 [N, 1, h, w], saliency float32 [N, 1, H', W'],
    predictions float32 [N, len(PREDICTION_NAMES)]], the maps area-averaged
    as `extractor.stored_maps` does. Once `records(log_pipeline)` said yes,
    the same pass also takes the logged layers' stored maps, which come
    first in the list (one forward per log, not two). An image whose logits are not all
    finite (a model gone NaN) has NaN for its predicted class and both
    scores (and for its target class when that is the predicted one): an
    argmax of NaNs is no prediction.

    Args:
      model: the model being trained (any kind).
      cam_entry: the Grad-CAM layer (`select_cam_layer`).
      probe_size: images in the probe batch.
      class_ids: the probe's labels as class indices (None: no labels).
      target: `Attributions.target`.
      max_map_size: the Grad-CAM maps' largest stored side; saliency maps are
        stored at the probe image's size (twice this).
      output: `Attributions.output`.
      trace: the probe's traced pass (`layer_tree.trace_model`);
        default: a pass of zeros shaped like the model's input.

    Raises:
      ValueError: the model is not a classifier with one image input
        (`classifier_output.check_model`, `classifier_probability`), or a target class is not
        one of its classes.
    """

    needs_autograd = True

    def __init__(self, model, cam_entry, probe_size, class_ids, target, max_map_size, output=None,
                 trace=None):
        if trace is None:
            trace = layer_tree.trace_model(model, layer_tree.sample_inputs(model))
        input_shape = classifier_output.check_model(trace)
        self._probability = classifier_output.classifier_probability(model, trace, output)
        self._output_layer = trace.output_layers[0] if trace.output_layers else None
        self._output_layers = trace.output_layers
        self._log_pipeline = None
        # None where declared logits, or where no layer makes the output.
        self.final_activation = (
            classifier_output.final_activation(self._output_layer)
            if self._output_layer is not None else None)
        super().__init__(model)
        self.cam_entry = cam_entry
        height, width, channels, self._cam_channels_first = _spatial_shape(cam_entry)
        self.delta_shape = (probe_size,) + tuple(cam_entry.output_shape)
        # The Grad-CAM layer's output dtype (float16 or bfloat16 under a
        # mixed-precision policy): the zero tensor added to it has the same.
        self.delta_dtype = cam_entry.dtype
        self.num_classes = int(trace.output_shape[0])
        self._input_channels_first = keras.config.image_data_format() == "channels_first"
        in_h, in_w = input_shape[1:] if self._input_channels_first else input_shape[:2]
        self.cam_geometry = geometry_lib.map_geometry(
            cam_entry.path, (height, width, 1), False, 1, max_map_size)
        self.saliency_geometry = geometry_lib.map_geometry(
            "input", (in_h, in_w, 1), False, 1, 2 * max_map_size)
        self._targets = attribution_options.fixed_targets(
            class_ids, target, probe_size, self.num_classes)
        self.target_source = attribution_options.target_source(self._targets, target)

    # The differentiated function -------------------------------------------

    def records(self, log_pipeline):
        """Makes this pass also take `log_pipeline`'s maps, unless a logged
        layer makes the output whose final activation the pass leaves out
        (its maps would be logits). Returns whether it does."""
        recorded = [l.entry.layer for l in log_pipeline.logged_layers]
        if self.final_activation and any(l in recorded for l in self._output_layers):
            return False
        self._log_pipeline = log_pipeline
        return True

    def _model_logits(self, x, delta, captured, recorded):
        """`model(x, training=False)` with `delta` added to the Grad-CAM
        layer's first output (kept in `captured`), the output layer's final
        activation left out, and each recorded layer's first output kept in
        `recorded` (by layer id)."""
        cam_layer = self.cam_entry.layer
        logged = [l.entry.layer for l in self._log_pipeline.logged_layers] if self._log_pipeline else []

        def changed(layer, own_call):
            if layer is cam_layer:
                def call(*args, **kwargs):
                    outputs = own_call(*args, **kwargs)
                    if not captured:
                        captured.append(outputs)
                        outputs = outputs + ops.cast(delta, outputs.dtype)  # the same dtype: a no-op
                    return outputs
                return call
            if self.final_activation and layer is self._output_layer:
                return lambda *args, **kwargs: self._logits(layer, own_call, args, kwargs)
            return own_call

        def wrap(layer, own_call):
            call = changed(layer, own_call)
            if layer not in logged:
                return call

            def record(*args, **kwargs):
                outputs = call(*args, **kwargs)
                recorded.setdefault(id(layer), outputs)
                return outputs
            return record

        layers = [cam_layer] + logged
        if self.final_activation:
            layers.append(self._output_layer)
        with layer_calls.intercepted(layers, wrap):
            return self.model(x, training=False)

    @staticmethod
    def _logits(op, own_call, args, kwargs):
        """`op`'s output before its final softmax or sigmoid."""
        if type(op).__name__ == "Softmax" or getattr(op, "activation", None) is None:
            return args[0]
        # The layer's own computation with a linear activation: swapped for
        # this call only, on the training thread, between training batches.
        activation, op.activation = op.activation, keras.activations.linear
        try:
            return own_call(*args, **kwargs)
        finally:
            op.activation = activation

    def forward(self, x, delta):
        captured, recorded = [], {}
        logits = self._model_logits(x, delta, captured, recorded)
        if isinstance(logits, (list, tuple)):
            logits = logits[0]
        logits = ops.cast(logits, "float32")
        if self.num_classes == 1:  # one sigmoid unit: class 1's logit is z, class 0's -z
            logits = ops.concatenate([-logits, logits], axis=1)
        if self._targets is None:
            targets = ops.stop_gradient(ops.argmax(logits, axis=1))
        else:
            targets = ops.convert_to_tensor(self._targets)
        chosen = ops.one_hot(targets, ops.shape(logits)[1], dtype="float32")
        score = ops.sum(logits * chosen)
        layer_outputs = [recorded[id(l.entry.layer)] for l in self._log_pipeline.logged_layers] \
            if self._log_pipeline else []
        return score, (captured[0], logits, chosen, layer_outputs)

    def finish(self, aux, input_gradient, delta_gradient):
        """The stored maps and the predictions from the forward pass's `aux`
        and the gradients of the score."""
        activation, logits, chosen, layer_outputs = aux
        activation = ops.cast(activation, "float32")
        delta_gradient = ops.cast(delta_gradient, "float32")
        if self._cam_channels_first:
            activation = ops.moveaxis(activation, 1, -1)
            delta_gradient = ops.moveaxis(delta_gradient, 1, -1)
        weights = ops.mean(delta_gradient, axis=(1, 2), keepdims=True)
        cam = ops.relu(ops.sum(activation * weights, axis=-1, keepdims=True))
        channel_axis = 1 if self._input_channels_first else -1
        saliency = ops.max(ops.abs(ops.cast(input_gradient, "float32")), axis=channel_axis)
        saliency = ops.expand_dims(saliency, -1)
        if self.probability == "sigmoid":
            probabilities = ops.sigmoid(logits)
        else:
            probabilities = ops.softmax(logits, axis=1)
        predicted = ops.argmax(logits, axis=1)
        predicted_score = ops.max(probabilities * ops.one_hot(predicted, ops.shape(logits)[1]), axis=1)
        target = ops.cast(ops.argmax(chosen, axis=1), "float32")
        target_score = ops.sum(probabilities * chosen, axis=1)
        # No prediction where the logits are not finite (argmax of NaN is 0).
        finite = ops.all(ops.isfinite(logits), axis=1)
        nan = ops.full_like(target_score, float("nan"))
        if self._targets is None:
            target = ops.where(finite, target, nan)
        cam_maps = extractor.stored_maps(cam, self.cam_geometry.factor)
        saliency_maps = extractor.stored_maps(saliency, self.saliency_geometry.factor)
        predictions = ops.stack([
            ops.where(finite, ops.cast(predicted, "float32"), nan),
            ops.where(finite, predicted_score, nan),
            target,
            ops.where(finite, target_score, nan),
        ], axis=1)
        layer_maps = self._log_pipeline.stored(layer_outputs) if self._log_pipeline else []
        return layer_maps + [cam_maps, saliency_maps, predictions]

    @property
    def probability(self):
        """How the recorded scores are made from the logits: "sigmoid" (one
        unit, a sigmoid output, logits trained with a binary crossentropy) or
        "softmax" (`classifier_probability`)."""
        return self._probability

    # What the backends compile ---------------------------------------------

    def __call__(self, x):
        return self._attribute(self.forward, x)

    def stateless(self, trainable_values, non_trainable_values, x):
        """`__call__` with the model's variables replaced by these values."""
        return self._attribute(
            functools.partial(self.stateless_forward, trainable_values, non_trainable_values), x)

    def _attribute(self, forward, x):
        x = ops.cast(x, "float32")
        delta = ops.zeros(self.delta_shape, self.delta_dtype)
        aux, (input_gradient, delta_gradient) = backends.gradients(forward, (x, delta))
        return self.finish(aux, input_gradient, delta_gradient)

    def stateless_forward(self, trainable_values, non_trainable_values, x, delta):
        """`forward` with the model's variables replaced by these values."""
        with self.with_values(trainable_values, non_trainable_values):
            return self.forward(x, delta)
