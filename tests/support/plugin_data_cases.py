"""Plugin data the unit tests describe tags with."""

from tb_actviz import metadata, plugin_data_pb2

Data = plugin_data_pb2.ActivationsPluginData


def layer_data():
    return Data(
        kind=metadata.Kind.LAYER,
        layer_path="vgg16/block1_conv1",
        layer_index=3,
        layer_class="Conv2D",
        output_shape=[224, 224, 64],
        map_kind="maps",
        num_images=8,
        filter_indices=list(range(64)),
        map_height=56,
        map_width=56,
        source_height=224,
        source_width=224,
        downsample_factor=4,
        stat_names=list(metadata.STAT_NAMES),
    )
