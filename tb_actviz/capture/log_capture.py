"""What one log takes from the model: the probe's stored maps, kernels and
attribution maps.

Built at train begin (on the process that writes), after the selection and
the probe were validated; each call runs on the training thread and returns
host numpy arrays, which is all the training thread does for a log.
"""

import keras

from tb_actviz.capture import backends
from tb_actviz.capture.captured_log import CapturedLog
from tb_actviz.capture import extractor
from tb_actviz.capture import probe as probe_lib


class LogCapture:
    """Runs the compiled probe pass and reads the logged kernels. With
    attributions, one forward and backward pass gives the layers' maps too.

    Args:
      model: the model being trained (its current weights are read).
      logged_layers: `extractor.LoggedLayer`s, in log order.
      kernel_layers: `kernels.KernelLayer`s.
      probe: the `probe.Probe`.
      attribution_pipeline: an `attribution.AttributionPipeline`, or None.
    """

    def __init__(self, model, logged_layers, kernel_layers, probe, attribution_pipeline=None):
        log_pipeline = extractor.LogPipeline(model, logged_layers)
        # With attributions, one pass gives the maps too (`records`).
        self._one_pass = attribution_pipeline is not None and attribution_pipeline.records(log_pipeline)
        self._compiled = None if self._one_pass else backends.compile_pipeline(log_pipeline)
        self._attribution = (
            backends.compile_pipeline(attribution_pipeline) if attribution_pipeline is not None else None
        )
        self._layer_count = len(logged_layers)
        self._kernel_layers = kernel_layers
        self._probe = keras.tree.map_structure(
            keras.ops.convert_to_tensor, probe_lib.model_inputs(probe))

    @property
    def compile_count(self):
        """Compilations of the pass that takes the layers' maps."""
        return (self._attribution if self._one_pass else self._compiled).compile_count

    @property
    def attribution_compile_count(self):
        return self._attribution.compile_count if self._attribution is not None else 0

    def __call__(self):
        attribution_maps, predictions, layer_maps = (), None, None
        if self._attribution is not None:
            *maps, predictions = self._attribution(self._probe)
            if self._one_pass:
                layer_maps, maps = maps[:self._layer_count], maps[self._layer_count:]
            attribution_maps = maps
        return CapturedLog(
            layer_maps=layer_maps if self._one_pass else self._compiled(self._probe),
            kernel_weights=[
                backends.to_numpy(k.kernel[..., : k.num_filters]) for k in self._kernel_layers
            ],
            attribution_maps=attribution_maps,
            predictions=predictions,
        )
