"""What one log takes from the model: the probe's stored maps and kernels.

Built at train begin (on the process that writes), after the selection and
the probe were validated; each call runs on the training thread and returns
host numpy arrays, which is all the training thread does for a log.
"""

import dataclasses

import keras

from tb_actviz.capture import backends
from tb_actviz.capture import extractor


@dataclasses.dataclass(frozen=True)
class CapturedLog:
    """One log's arrays, on the host.

    Attributes:
      layer_maps: one float32 [N, F, h, w] per logged layer.
      kernel_weights: one float32 (kh, kw, in, F) per kernel layer.
    """

    layer_maps: list
    kernel_weights: list


class LogCapture:
    """Runs the compiled probe pass and reads the logged kernels.

    Args:
      model: the model being trained (its current weights are read).
      logged_layers: `extractor.LoggedLayer`s, in log order.
      kernel_layers: `kernels.KernelLayer`s.
      probe: the `probe.Probe`.
    """

    def __init__(self, model, logged_layers, kernel_layers, probe):
        self._compiled = backends.compile_pipeline(extractor.LogPipeline(model, logged_layers))
        self._kernel_layers = kernel_layers
        inputs = probe.inputs
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]  # as the extractor takes a single input
        self._probe = keras.tree.map_structure(keras.ops.convert_to_tensor, inputs)

    @property
    def compile_count(self):
        return self._compiled.compile_count

    def __call__(self):
        return CapturedLog(
            layer_maps=self._compiled(self._probe),
            kernel_weights=[
                backends.to_numpy(k.kernel[..., : k.num_filters]) for k in self._kernel_layers
            ],
        )
