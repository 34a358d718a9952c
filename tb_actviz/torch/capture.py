"""What one log takes from a PyTorch model: the probe's stored maps,
kernels and attribution maps, as host numpy arrays.

One eager pass of the probe under `torch.inference_mode()` and in eval mode
(`model_state.untouched`), with a forward hook on each logged module for
that pass only: the hook pools the module's first output on its device
(`maps.stored_maps`) and, once every logged module has returned, stops the
pass (nothing after the last of them runs). The hooks are removed in a
`finally`, so none is left on the model between logs, also when the
forward raises.
"""

import contextlib

from tb_actviz.capture.captured_log import CapturedLog
from tb_actviz.capture import torch_maps as maps
from tb_actviz.torch import model_state
from tb_actviz.torch import modules

import torch


class _PassDone(BaseException):
    """Raised by the last logged module's hook: a BaseException, so that a
    model's own `except Exception` does not swallow it."""


class LoggedModule:
    """A logged module: its listing entry and stored geometry."""

    def __init__(self, entry, geometry):
        self.entry = entry
        self.geometry = geometry


class KernelModule:
    """A Conv2d whose first `num_filters` kernels are logged."""

    def __init__(self, entry, num_filters):
        self.entry = entry
        self.num_filters = num_filters

    @property
    def kernel_shape(self):
        """(kh, kw, in, out), as Keras lays kernels out."""
        out_channels, in_channels, kh, kw = self.entry.layer.weight.shape
        return (kh, kw, in_channels, out_channels)

    def weights(self):
        """float32 (kh, kw, in, F) numpy: PyTorch's (out, in, kh, kw) kernels."""
        weight = self.entry.layer.weight.detach()[: self.num_filters]
        return maps.to_host(weight.float().permute(2, 3, 1, 0))


@contextlib.contextmanager
def recorded(logged, stop_when_done=False):
    """Forward hooks, for the block, that keep the stored maps of each
    logged module's first output (pooled on the device, nothing kept for
    autograd); with `stop_when_done`, the pass stops once every logged
    module has returned. Yields a `RecordedMaps`."""
    record = RecordedMaps(logged)

    def hook(module, args, output):
        if module in record.stored or module not in record.targets:
            return
        tensor = modules.single_tensor(output)
        with torch.no_grad():
            record.stored[module] = maps.stored_maps(tensor.detach(), record.targets[module].geometry)
        if stop_when_done and len(record.stored) == len(record.targets):
            raise _PassDone

    handles = [module.register_forward_hook(hook) for module in record.targets]
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()


class RecordedMaps:
    """The stored maps that `recorded` hooks took, by module."""

    def __init__(self, logged):
        self.logged = logged
        self.targets = {l.entry.layer: l for l in logged}
        self.stored = {}

    def in_order(self):
        """The stored maps in log order.

        Raises:
          RuntimeError: the pass did not call a logged module.
        """
        missing = [l.entry.path for l in self.logged if l.entry.layer not in self.stored]
        if missing:
            raise RuntimeError(
                "the probe's forward pass did not call %s this time (it did at the first log): "
                "a forward whose path depends on state" % ", ".join(missing))
        return [self.stored[l.entry.layer] for l in self.logged]


def first_outputs(model, inputs, logged):
    """The stored maps of each logged module's first output, on the device:
    one pass of `inputs` in inference and eval mode, stopped after the last."""
    with recorded(logged, stop_when_done=True) as record:
        with model_state.untouched(model), torch.inference_mode():
            try:
                model_state.run(model, inputs)
            except _PassDone:
                pass
    return record.in_order()


class ProbePass:
    """Takes one log from the model: call it with the model (or its wrapper).

    Args:
      model: the unwrapped model (`modules.unwrap`) the selection was made on.
      logged: `LoggedModule`s, in log order.
      kernels: `KernelModule`s.
      probe_inputs: the probe's inputs (numpy), placed on the model's device
        and floating dtype at each log (a model moved or cast between logs
        takes them where it is now).
      attribution: a `tb_actviz.torch.attribution.AttributionPass`, or None.
    """

    compile_count = 0  # eager: nothing is compiled
    attribution_compile_count = 0

    def __init__(self, model, logged, kernels, probe_inputs, attribution=None):
        self.model = model
        self._logged = logged
        self._kernels = kernels
        self._probe_inputs = probe_inputs
        self._placed = (None, None)  # ((device, dtype), inputs there)
        self._attribution = attribution
        # With attributions, one pass gives the maps too.
        self._one_pass = attribution is not None and attribution.records(logged)

    def _inputs(self):
        placement = model_state.placement(self.model)
        if self._placed[0] != placement:
            self._placed = (placement, model_state.to_model(self._probe_inputs, *placement))
        return self._placed[1]

    def __call__(self):
        inputs = self._inputs()
        layer_maps = None if self._one_pass else first_outputs(self.model, inputs, self._logged)
        attribution_maps, predictions = (), None
        if self._attribution is not None:
            *attribution_maps, predictions = self._attribution(inputs)
            if self._one_pass:
                layer_maps = attribution_maps[:len(self._logged)]
                attribution_maps = attribution_maps[len(self._logged):]
        return CapturedLog(
            layer_maps=[maps.to_host(m) for m in layer_maps],
            kernel_weights=[k.weights() for k in self._kernels],
            attribution_maps=attribution_maps,
            predictions=predictions,
        )
