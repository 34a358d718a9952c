"""Where a PyTorch model looks: Grad-CAM and input-gradient saliency.

The same maps, targets and stored format as the Keras side
(`capture.attribution`, docs/format.md): one forward and one backward pass
of the probe, in eval mode with the model's state untouched. A forward hook
on the Grad-CAM module adds a zero tensor `delta` (a leaf that requires
grad) to its first output, so `d score / d delta` is the score's gradient
with respect to that module's maps even where an in-place op follows it
(torchvision's `ReLU(inplace=True)`). Gradients come from
`torch.autograd.grad(score, [x, delta])`: no parameter's `.grad` is read or
written, and the graph is freed when the call returns.

The score is the target class's logit: PyTorch classifiers return logits;
a forward that ends in a `Softmax`, `LogSoftmax` or `Sigmoid` module has it
left out (its input is taken as the logits), as Grad-CAM prescribes.
"""

import torch
import torch.nn.functional as F

from tb_actviz.capture import attribution_options
from tb_actviz.capture import selection
from tb_actviz.capture.attribution_options import Attributions  # noqa: F401 - the API
from tb_actviz.format import geometry as geometry_lib
from tb_actviz.torch import capture
from tb_actviz.capture import torch_maps as maps
from tb_actviz.torch import model_state
from tb_actviz.torch import modules

_FINAL_ACTIVATIONS = (torch.nn.Softmax, torch.nn.LogSoftmax, torch.nn.Sigmoid)


def parse(attributions):
    """`attributions=` -> an `Attributions`, or None for off (a module
    selects the Grad-CAM module)."""
    return attribution_options.parse(attributions, (torch.nn.Module,))


def _has_maps(entry):
    shape = entry.output_shape
    return entry.loggable and shape is not None and len(shape) == 3 and max(shape[1:]) > 1


def select_cam_module(entries, layer=None):
    """The Grad-CAM module: `layer` (a `layers=` item), or the last
    convolution module the pass calls whose maps are larger than 1x1.

    Raises:
      ValueError: none, or a module without (C, H, W) maps.
    """
    if layer is None:
        candidates = [e for e in selection.conv_layers(entries) if _has_maps(e)]
        if not candidates:
            raise ValueError(
                "attributions=: the model has no convolution module with maps larger than "
                "1x1 for Grad-CAM; pass Attributions(layer=...) with a module whose output "
                "is (batch, C, H, W)")
        return candidates[-1]
    chosen = modules.resolve_one(entries, layer, "attributions")
    if len(chosen) != 1 or not _has_maps(chosen[0]):
        entry = chosen[0]
        raise ValueError(
            "attributions=: Grad-CAM needs one module with (C, H, W) maps larger than 1x1; "
            "%r selects %s with output %s" % (
                layer, ", ".join(e.path for e in chosen), entry.output_shape))
    return chosen[0]


def _final_activation(entries, output):
    """The module that made `output`, where it is a final softmax or sigmoid."""
    last = [e for e in entries if e.call_order is not None and not any(True for _ in e.layer.children())]
    if not last:
        return None
    last = max(last, key=lambda e: e.call_order)
    if isinstance(last.layer, _FINAL_ACTIVATIONS) and tuple(output.shape[1:]) == last.output_shape:
        return last.layer
    return None


class AttributionPass:
    """Probe inputs -> [grad_cam float32 [N, 1, h, w], saliency float32
    [N, 1, H', W'], predictions float32 [N, 4]] as host numpy arrays; once
    `records(logged)` said yes, preceded by the logged modules' stored maps
    (on the device) from the same forward pass.

    Args:
      model: the unwrapped model.
      entries: its `modules.walk_modules` listing.
      options: the parsed `Attributions`.
      inputs: the probe's inputs on the model's device.
      probe: the `probe.Probe` (labels, size).
      max_map_size: the Grad-CAM maps' largest stored side; saliency maps
        are stored at up to twice it.

    Raises:
      ValueError: not one image input (N, C, H, W), an output that is not
        (batch, classes), or a target outside the classes.
    """

    def __init__(self, model, entries, options, inputs, probe, max_map_size):
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:
            raise ValueError(
                "attributions= needs a model with one image input (N, C, H, W); the probe's "
                "inputs are %s" % (model_state.shapes(inputs),))
        self.model = model
        self.cam_entry = select_cam_module(entries, options.layer)
        with model_state.untouched(model), torch.inference_mode():
            output = modules.single_tensor(model_state.run(model, inputs[:1]))
        if output is None or output.dim() != 2 or not output.is_floating_point():
            raise ValueError(
                "attributions= needs a classifier whose forward returns (batch, classes) "
                "logits (or an output holding only them); this model returns %s"
                % (None if output is None else tuple(output.shape),))
        self._final = _final_activation(entries, output)
        if self._final is not None and options.output == attribution_options.LOGITS:
            raise ValueError(
                "Attributions(output='logits') says the model's output is class logits, but "
                "its forward ends in %s; leave output= out: tb_actviz then explains its input"
                % type(self._final).__name__)
        self.num_classes = int(output.shape[1])
        self.probability = "sigmoid" if self.num_classes == 1 or isinstance(
            self._final, torch.nn.Sigmoid) else "softmax"
        channels, height, width = self.cam_entry.output_shape
        self.cam_geometry = geometry_lib.map_geometry(
            self.cam_entry.path, (1, height, width), True, 1, max_map_size)
        self.saliency_geometry = geometry_lib.map_geometry(
            "input", (1,) + tuple(inputs.shape[2:]), True, 1, 2 * max_map_size)
        self._targets = attribution_options.fixed_targets(
            probe.class_ids, options.target, probe.size, self.num_classes)
        self.target_source = attribution_options.target_source(self._targets, options.target)
        self._recorded = []

    def records(self, logged):
        """Makes this pass also take the stored maps of the `logged` modules
        (one forward per log), unless one of them is the final activation
        the pass leaves out. Returns whether it does."""
        if self._final is not None and any(l.entry.layer is self._final for l in logged):
            return False
        self._recorded = logged
        return True

    def _logits(self, x, delta, captured):
        """The model's output with `delta` added to the Grad-CAM module's
        first output (kept in `captured`), a final softmax or sigmoid left out."""
        cam_module = self.cam_entry.layer

        def add_delta(module, args, output):
            if captured:
                return None
            captured.append(output)
            return output + delta.to(output.dtype)

        def logits_of_final(module, args, output):
            return args[0]

        handles = [cam_module.register_forward_hook(add_delta)]
        if self._final is not None:
            handles.append(self._final.register_forward_hook(logits_of_final))
        try:
            return modules.single_tensor(model_state.run(self.model, x))
        finally:
            for handle in handles:
                handle.remove()

    def __call__(self, inputs):
        with model_state.untouched(self.model), torch.inference_mode(False), torch.enable_grad():
            x = inputs.detach().clone().requires_grad_(True)
            channels, height, width = self.cam_entry.output_shape
            delta = torch.zeros((len(x), channels, height, width), device=x.device,
                                dtype=torch.float32, requires_grad=True)
            captured = []
            with capture.recorded(self._recorded) as record:
                logits = self._logits(x, delta, captured).float()
            if self.num_classes == 1:  # one unit: class 1's logit is z, class 0's -z
                logits = torch.cat([-logits, logits], dim=1)
            if self._targets is None:
                targets = logits.detach().argmax(dim=1)
            else:
                targets = torch.as_tensor(self._targets, device=logits.device, dtype=torch.long)
            chosen = F.one_hot(targets, logits.shape[1]).float()
            score = (logits * chosen).sum()
            input_gradient, delta_gradient = torch.autograd.grad(score, [x, delta])
        layer_maps = record.in_order()  # on the device, as `capture.first_outputs` gives them
        with torch.no_grad():
            return layer_maps + self._finish(captured[0].detach().float(), logits.detach(), chosen,
                                             input_gradient.float(), delta_gradient)

    def _finish(self, activation, logits, chosen, input_gradient, delta_gradient):
        weights = delta_gradient.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((activation * weights).sum(dim=1, keepdim=True))
        saliency = input_gradient.abs().amax(dim=1, keepdim=True)
        probabilities = torch.sigmoid(logits) if self.probability == "sigmoid" else torch.softmax(logits, 1)
        predicted = logits.argmax(dim=1)
        predicted_score = probabilities.gather(1, predicted[:, None])[:, 0]
        target = chosen.argmax(dim=1).float()
        target_score = (probabilities * chosen).sum(dim=1)
        finite = torch.isfinite(logits).all(dim=1)
        nan = torch.full_like(target_score, float("nan"))
        if self._targets is None:
            target = torch.where(finite, target, nan)
        predictions = torch.stack([
            torch.where(finite, predicted.float(), nan),
            torch.where(finite, predicted_score, nan),
            target,
            torch.where(finite, target_score, nan),
        ], dim=1)
        return [
            maps.to_host(maps.stored_maps(cam, self.cam_geometry)),
            maps.to_host(maps.stored_maps(saliency, self.saliency_geometry)),
            maps.to_host(predictions),
        ]
