"""tb_actviz for PyTorch models, without Keras.

`ActivationLogger(log_dir, probe, layers=...)` logs a `torch.nn.Module`'s
feature maps (and, if asked, Grad-CAM and saliency) at each
`logger.log(model, step)`, in the format the Activations tab, `tb-actviz
export` and `LogReader` read; `list_layers(model, probe)` prints what
`layers=` can pick; `Attributions` configures `attributions=`, `TokenGrid`
`token_grid=`. The
Lightning callback is `tb_actviz.lightning.ActivationLogger`, the Hugging
Face `TrainerCallback` is `tb_actviz.transformers.ActivationLogger`.
"""

try:
    import torch  # noqa: F401
except ModuleNotFoundError as e:  # pragma: no cover - depends on the environment
    if e.name != "torch":
        raise
    raise ImportError(
        "tb_actviz.torch needs PyTorch: pip install torch (or, from a clone of tb_actviz, "
        "pip install '.[torch-native]')") from e

from tb_actviz.capture.attribution_options import Attributions
from tb_actviz.capture.token_grid import TokenGrid
from tb_actviz.torch.logger import ActivationLogger, list_layers

__all__ = ["ActivationLogger", "Attributions", "TokenGrid", "list_layers"]
