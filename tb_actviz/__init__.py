"""tb_actviz: watch what every convolution filter learns while a model trains.

`ActivationLogger` (a Keras callback) writes feature maps to TensorBoard event
files; the "activations" TensorBoard plugin shows them. `list_layers` prints the
layers that can be logged; `Attributions` configures its `attributions=`,
`TokenGrid` its `token_grid=`.
`ScalarLogger` (a Keras callback) writes the loss and metrics as TensorBoard
scalars, as `keras.callbacks.TensorBoard` does, without TensorFlow.
"""

__version__ = "0.1.0"

__all__ = ["ActivationLogger", "Attributions", "ScalarLogger", "TokenGrid", "list_layers"]


def _import_keras_side(module):
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != "keras":
            raise
        raise ImportError(
            "tb_actviz's callback needs Keras 3 and a backend: pip install "
            "'keras>=3.15' with one of tensorflow, jax or torch (or, from a "
            "clone of tb_actviz, pip install '.[tensorflow]', '.[jax]' or "
            "'.[torch]'). Serving logs in TensorBoard needs neither."
        ) from e


def __getattr__(name):
    # Imported lazily: the TensorBoard plugin side must not need Keras.
    if name == "ActivationLogger":
        return _import_keras_side("tb_actviz.callback").ActivationLogger
    if name == "Attributions":
        return _import_keras_side("tb_actviz.capture.attribution").Attributions
    if name == "ScalarLogger":
        return _import_keras_side("tb_actviz.scalar_logger").ScalarLogger
    if name == "TokenGrid":
        return _import_keras_side("tb_actviz.capture.token_grid").TokenGrid
    if name == "list_layers":
        return _import_keras_side("tb_actviz.capture.layer_selection").list_layers
    raise AttributeError("module 'tb_actviz' has no attribute %r" % name)
