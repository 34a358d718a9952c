"""Everything in tb_actviz that needs TensorFlow: tracing and tf.summary writing.

Keeping it in this one module lets the rest of the package run on Keras 3's
other backends later: a JAX or PyTorch writer replaces this module only.
"""

try:
    import tensorflow as tf
except ImportError as e:  # pragma: no cover - exercised without TensorFlow
    raise ImportError(
        "tb_actviz's ActivationLogger writes with tf.summary and needs "
        "TensorFlow: pip install 'tb_actviz[tensorflow]' (or tensorflow-cpu). "
        "Serving logs in TensorBoard does not need it."
    ) from e

from tb_actviz import metadata


def trace(fn):
    """Compiles `fn` once for the probe's fixed shapes."""
    return tf.function(fn, reduce_retracing=True, autograph=False)


def is_chief(model):
    """Whether this process writes logs: always, except on the non-chief
    workers of a multi-worker tf.distribute strategy."""
    strategy = getattr(model, "distribute_strategy", None)
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and resolver.task_id == 0


def to_numpy(structure):
    return tf.nest.map_structure(lambda t: t.numpy(), structure)


def activations(name, blobs, step, plugin_data, description=""):
    """Writes one blob-sequence summary of the activations plugin.

    Args:
      name: the tag.
      blobs: a list of `bytes` (see docs/format.md for their meaning).
      step: the step, an int.
      plugin_data: an `ActivationsPluginData` describing the tag; it must be
        the same for every step of a tag.
      description: optional Markdown description.

    Returns:
      True on success, False when no default writer is set.
    """
    summary_metadata = metadata.create_summary_metadata(plugin_data, description)
    return tf.summary.write(
        tag=name,
        tensor=tf.constant(blobs, dtype=tf.string),
        step=step,
        metadata=summary_metadata,
    )


def image(name, rgb_uint8, step):
    """Writes a standard Images-tab image (H, W, 3 uint8)."""
    return tf.summary.image(name, rgb_uint8[None], step=step)


class SummaryFileWriter:
    """A tf.summary file writer usable from any thread."""

    def __init__(self, logdir):
        self._writer = tf.summary.create_file_writer(logdir)

    def write(self, write_fn):
        """Runs `write_fn()` with this writer as the default, then flushes."""
        with self._writer.as_default():
            write_fn()
        self._writer.flush()

    def close(self):
        self._writer.close()
