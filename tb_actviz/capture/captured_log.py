"""What one log hands from the training thread to the writer, whatever the
framework: host numpy arrays (`write.log_writer.LogWriter.submit`)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class CapturedLog:
    """One log's arrays, on the host.

    Attributes:
      layer_maps: one float32 [N, F, h, w] per logged layer.
      kernel_weights: one float32 (kh, kw, in, F) per kernel layer.
      attribution_maps: one float32 [N, 1, h, w] per attribution method, in
        the order of the writer's attribution series (empty without
        attributions).
      predictions: float32 [N, 4] (`attribution.PREDICTION_NAMES`), or None.
    """

    layer_maps: list
    kernel_weights: list
    attribution_maps: list = ()
    predictions: object = None
