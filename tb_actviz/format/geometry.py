"""How a layer's output becomes stored 2-D maps: their kind, size and the
area-averaging factor (docs/format.md, "Map kinds" and "Quantization")."""

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class MapGeometry:
    """How one layer's output becomes stored maps.

    Attributes:
      map_kind: "maps", "sequence", "units", "volume_max_projection" or
        "token_grid" (a `(tokens, channels)` output laid out as a patch grid).
      channels_first: whether the channel axis follows the batch axis.
      source_height, source_width: map size at full resolution.
      num_filters: channels logged (the first ones).
      factor: integer area-averaging factor.
      leading_tokens: "token_grid": the tokens before the grid, left out.
    """

    map_kind: str
    channels_first: bool
    source_height: int
    source_width: int
    num_filters: int
    factor: int
    leading_tokens: int = 0

    @property
    def map_height(self):
        return math.ceil(self.source_height / self.factor)

    @property
    def map_width(self):
        return math.ceil(self.source_width / self.factor)


def map_geometry(layer_name, output_shape, channels_first, max_filters, max_map_size,
                 token_grid=None):
    """Chooses the stored geometry of a layer's output.

    Args:
      layer_name: for the error message.
      output_shape: the output shape without the batch axis.
      channels_first: whether the layer's `data_format` is "channels_first".
      max_filters: log at most this many channels (the first ones).
      max_map_size: the largest stored side; larger maps are area-averaged
        by the smallest integer factor that fits.
      token_grid: for a `(tokens, channels)` output, (leading, height,
        width): "token_grid" maps of the `height * width` tokens after the
        `leading` ones, row-major (`capture.token_grid.layout`).

    Raises:
      ValueError: a map size or the channel count is unknown; a token grid
        that does not hold the output's tokens.
    """
    rank = len(output_shape)
    leading = 0
    if token_grid is not None:
        leading, height, width = (int(d) for d in token_grid)
        tokens = output_shape[1 if channels_first else 0] if rank == 2 else None
        if tokens != leading + height * width:
            raise ValueError(
                "Layer %r: output shape %s is not %d leading tokens and a %d x %d token grid"
                % (layer_name, tuple(output_shape), leading, height, width))
        kind, channels = "token_grid", output_shape[0 if channels_first else 1]
    elif rank == 1:
        kind, height, width, channels = "units", 1, output_shape[0], 1
    elif rank == 2:
        kind, channels = "sequence", output_shape[0 if channels_first else 1]
        height, width = 1, output_shape[1 if channels_first else 0]
    elif rank == 3:
        kind = "maps"
        spatial = output_shape[1:] if channels_first else output_shape[:2]
        channels = output_shape[0 if channels_first else 2]
        height, width = spatial
    else:
        kind = "volume_max_projection"
        spatial = output_shape[2:] if channels_first else output_shape[1:3]
        channels = output_shape[0 if channels_first else 3]
        height, width = spatial
    if None in (height, width, channels):
        raise ValueError(
            "Layer %r has an output shape with unknown sizes %s; tb_actviz "
            "stores maps of fixed sizes, which the probe's forward pass gives: "
            "pass the shape that pass returned (give the model a fixed input "
            "shape where no pass is run)."
            % (layer_name, tuple(output_shape))
        )
    factor = max(1, math.ceil(max(height, width) / max_map_size))
    return MapGeometry(
        map_kind=kind,
        channels_first=channels_first,
        source_height=height,
        source_width=width,
        num_filters=min(channels, max_filters),
        factor=factor,
        leading_tokens=leading,
    )
