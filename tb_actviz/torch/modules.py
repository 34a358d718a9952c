"""Finding modules in a PyTorch model: unwrapping, naming, tracing, selecting.

A module is named by its `named_modules()` path (`"layer4.1.conv2"`) in the
model as the user built it: the wrappers people train through are looked
through (`DistributedDataParallel` and `DataParallel`'s `module.`, a
`torch.compile`d model's `_orig_mod.`, activation checkpointing's
`_checkpoint_wrapped_module.`), and their prefixes are accepted in `layers=`
and left out of the names. `"conv:k"` is the k-th convolution module
(`Conv1d/2d/3d` and their transposes) in the order the forward pass calls
them. Output shapes, dtypes and call counts come from one forward pass of
the probe's first sample, with hooks on every module for that pass only.
"""

import dataclasses

import torch

from tb_actviz.capture import selection
from tb_actviz.torch import model_state

# Wrappers whose own name is a prefix of their module's names.
_WRAPPER_ATTRIBUTES = ("_orig_mod", "_checkpoint_wrapped_module", "_fsdp_wrapped_module")
_WRAPPER_PREFIXES = ("module.",) + tuple(a + "." for a in _WRAPPER_ATTRIBUTES)


@dataclasses.dataclass(frozen=True)
class ModuleEntry:
    """One module of a model (the `selection` listing's entry for PyTorch).

    Attributes:
      index: position in `named_modules()` order (wrappers left out).
      path: the module's dotted name, wrapper prefixes removed.
      layer: the module.
      output_shape: output shape without the batch axis, from the traced
        pass (None: not called, or not one tensor).
      loggable: whether its output can be shown as feature maps.
      reason: why not, when `loggable` is False.
      calls: how many times the traced pass called it.
      call_order: when its first call returned in that pass (None: not called).
      dtype: its output's dtype name ("" where unknown).
    """

    index: int
    path: str
    layer: object
    output_shape: tuple
    loggable: bool
    reason: str
    calls: int = 0
    call_order: object = None
    dtype: str = ""

    @property
    def selector(self):
        return self.path

    @property
    def selector_text(self):
        return '"%s"' % self.path

    @property
    def class_name(self):
        return type(self.layer).__name__

    @property
    def is_conv(self):
        """A convolution module (`torch.nn.Conv1d/2d/3d` and transposes), or
        a module of one's own named so that holds no modules."""
        if isinstance(self.layer, torch.nn.modules.conv._ConvNd):
            return True
        return "Conv" in self.class_name and not any(True for _ in self.layer.children())

    @property
    def patch_grid(self):
        """The (height, width) output grid of a patch-embedding convolution
        (a Conv2d with kernel size == stride > 1, no padding, no dilation:
        a vision transformer's), or None (`capture.token_grid`)."""
        layer, shape = self.layer, self.output_shape
        if not isinstance(layer, torch.nn.Conv2d) or shape is None or len(shape) != 3:
            return None
        kernel, stride = tuple(layer.kernel_size), tuple(layer.stride)
        padding = layer.padding if isinstance(layer.padding, str) else tuple(layer.padding)
        if (kernel != stride or max(kernel) < 2 or padding not in ("valid", (0, 0))
                or tuple(layer.dilation) != (1, 1)):
            return None
        return int(shape[1]), int(shape[2])

    @property
    def channels_first(self):
        """Whether the channel axis follows the batch axis: PyTorch's layout
        for maps (N, C, H, W) and volumes, and for (N, C, L) outputs of 1-D
        convolutions, poolings and norms; a (N, tokens, C) output elsewhere
        (a Linear's, a transformer block's) has its channels last."""
        shape = self.output_shape
        if shape is None or len(shape) >= 3:
            return True
        if len(shape) == 2:
            return "1d" in self.class_name.lower()
        return False


def unwrap(model):
    """The module the user built, inside DDP, DataParallel and torch.compile.

    Raises:
      TypeError: not a `torch.nn.Module`.
      ValueError: a model sharded with FSDP.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError("tb_actviz.torch needs a torch.nn.Module; got %s" % type(model).__name__)
    while True:
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        elif type(model).__name__ == "OptimizedModule" and isinstance(
                getattr(model, "_orig_mod", None), torch.nn.Module):
            model = model._orig_mod  # torch.compile: the pass runs eagerly on the original
        else:
            break
    _refuse_fsdp(model)
    return model


def _refuse_fsdp(model):
    for name, module in model.named_modules():
        kind = type(module).__name__
        if kind == "FullyShardedDataParallel" or any(
                c.__name__ == "FSDPModule" for c in type(module).__mro__):
            raise ValueError(
                "tb_actviz.torch: %s is sharded with FSDP (%s), whose every forward pass "
                "gathers parameters from all ranks, so a probe pass on the writing rank alone "
                "would hang the others. Log an unsharded copy of the model (e.g. the same "
                "architecture loaded with the gathered state dict every few epochs, on rank "
                "0), or train with DistributedDataParallel, which tb_actviz logs on rank 0."
                % (name or "the model", kind))


def clean_name(name):
    """A `named_modules()` name without wrapper components."""
    parts = [p for p in name.split(".") if p not in _WRAPPER_ATTRIBUTES]
    return ".".join(parts)


def _is_wrapper(module):
    return any(isinstance(getattr(module, a, None), torch.nn.Module) for a in _WRAPPER_ATTRIBUTES) \
        and sum(1 for _ in module.children()) == 1


def single_tensor(output):
    """The one tensor a module returned: the output itself, or the only
    tensor of a tuple, list or dict (Hugging Face's layers return
    `(hidden_states,)`); None where there is not exactly one."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        tensors = [o for o in output if isinstance(o, torch.Tensor)]
        if len(tensors) == 1:
            return tensors[0]
    return None


@dataclasses.dataclass
class _Calls:
    count: int = 0
    order: object = None
    output_shape: object = None
    dtype: str = ""
    several: bool = False


def trace(model, inputs):
    """Runs `inputs` (the probe's first sample) through `model` with a hook
    on every module, leaving the model as it was (`model_state.untouched`).

    Returns:
      {module: _Calls}, and the model's output.

    Raises:
      ValueError: the model cannot run on the probe; names the error.
    """
    calls = {}
    order = [0]

    def hook(module, args, output):
        record = calls.setdefault(module, _Calls())
        record.count += 1
        if record.count == 1:
            record.order = order[0]
            order[0] += 1
            tensor = single_tensor(output)
            if tensor is None:
                record.several = True
            else:
                record.output_shape = tuple(int(d) for d in tensor.shape[1:])
                record.dtype = str(tensor.dtype).replace("torch.", "")

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with model_state.untouched(model), torch.inference_mode():
            output = model_state.run(model, inputs)
    except Exception as e:  # noqa: BLE001 - the model's own error, named
        raise ValueError(
            "the probe could not be run through the model: model(probe) on inputs of "
            "shape %s raised %s: %s. Pass a probe batch the model takes, as its forward "
            "takes a batch" % (model_state.shapes(inputs), type(e).__name__, e)) from e
    finally:
        for handle in handles:
            handle.remove()
    return calls, output


def walk_modules(model, inputs):
    """Lists every module of `model` (the root and wrappers left out) in
    `named_modules()` order, each once, with what the probe's traced pass
    says of it.

    Args:
      model: an unwrapped module (`unwrap`).
      inputs: the probe's inputs on the model's device (a sample is taken).
    """
    calls, _ = trace(model, model_state.first_sample(inputs))
    entries = []
    for name, module in model.named_modules():
        if not name or _is_wrapper(module):
            continue
        record = calls.get(module)
        if record is None:
            shape, reason, dtype = None, selection.NOT_CALLED, ""
        elif record.several:
            shape, reason, dtype = None, "has several outputs", ""
        else:
            shape, reason, dtype = selection.checked_output(record.output_shape, record.dtype)
        entries.append(ModuleEntry(
            index=len(entries),
            path=clean_name(name),
            layer=module,
            output_shape=shape,
            loggable=not reason,
            reason=reason,
            calls=record.count if record else 0,
            call_order=record.order if record else None,
            dtype=dtype,
        ))
    return entries


def _strip_prefixes(spec, entries):
    """A name as `named_modules()` of a wrapper gives it, without the
    wrapper's prefix (`module.layer1` -> `layer1`)."""
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if spec.startswith(prefix) and not any(e.path.startswith(prefix) for e in entries):
                spec, changed = spec[len(prefix):], True
    return clean_name(spec) if not any(c in spec for c in "*?[") else spec


def resolve_one(entries, spec, argument="layers"):
    """The entries one `layers=` item selects: a module of the model, a
    dotted name (wrapper prefixes allowed), `"conv:k"` or a glob."""
    if isinstance(spec, torch.nn.Module):
        for entry in entries:
            if entry.layer is spec:
                return [entry]
        raise selection.selection_error(
            argument, entries, type(spec).__name__,
            "%s is not a module of this model: pass a module of the model being "
            "trained, or its name (model.named_modules())" % type(spec).__name__, ".")
    if not isinstance(spec, str):
        raise TypeError(
            "%s= items must be module names (\"layer4.1.conv2\"), \"conv:k\", glob patterns "
            "or modules of the model; got %r of type %s" % (argument, spec, type(spec).__name__))
    return selection.resolve_name(entries, _strip_prefixes(spec, entries), argument, ".")


def select(entries, layers, max_layers=selection.DEFAULT_MAX_LAYERS, argument="layers"):
    """Resolves `layers=` (None: the convolution modules, at most
    `max_layers` spread first to last) to loggable entries, in order."""
    return selection.select(
        entries, layers, lambda spec: resolve_one(entries, spec, argument), max_layers,
        argument, ".")
