"""tb_actviz: watch what every convolution filter learns while a model trains.

`ActivationLogger` (a Keras callback) writes feature maps to TensorBoard event
files; the "activations" TensorBoard plugin shows them. `list_layers` prints the
layers that can be logged.
"""

__version__ = "0.1.0"

__all__ = ["ActivationLogger", "list_layers"]


def __getattr__(name):
    # Imported lazily: the TensorBoard plugin side must not need Keras.
    if name == "ActivationLogger":
        from tb_actviz.callback import ActivationLogger

        return ActivationLogger
    if name == "list_layers":
        from tb_actviz.capture.layer_selection import list_layers

        return list_layers
    raise AttributeError("module 'tb_actviz' has no attribute %r" % name)
