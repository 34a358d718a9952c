"""Each Keras 3 backend's means to run the log pipeline, and who writes.

`compile_pipeline(pipeline)` returns a callable `probe -> [numpy arrays]` that
runs the probe's forward pass (and the area average) with the model's
current weights, compiled once per training by the backend's own means:

- TensorFlow: one `tf.function` (no AutoGraph), traced for the probe's fixed
  shapes.
- JAX: one `jax.jit` over the extractor's `stateless_call`, the weights passed
  as arguments: one compiled program serves every log, whatever the weights.
- PyTorch: eager, under `torch.inference_mode()` (no autograd graph kept),
  or `torch.no_grad()` for a pipeline that takes gradients itself
  (`needs_autograd`). Nothing is compiled: `torch.compile` would trace the
  model again (seconds) for a pass that runs once per log.

`gradients(fn, tensors)` differentiates with the backend's own autodiff
(`tf.GradientTape`, `jax.grad`, `torch.autograd.grad`), for the attribution
pipeline.

`is_chief()` says whether this process writes: in distributed training only
one process does. Only the module of the backend in use is imported, so JAX
and PyTorch users need no TensorFlow.
"""

import contextlib

import keras
import numpy as np


class _Compiled:
    """A compiled (or eager) log pipeline and how often it was compiled."""

    def __init__(self):
        self.compile_count = 0

    def _count_trace(self):
        # Called from inside the traced Python function: runs once per trace.
        self.compile_count += 1


class _TensorFlowPipeline(_Compiled):
    def __init__(self, pipeline):
        super().__init__()
        import tensorflow as tf

        def traced(probe):
            self._count_trace()
            return pipeline(probe)

        self._function = tf.function(traced, reduce_retracing=True, autograph=False)

    def __call__(self, probe):
        return [t.numpy() for t in self._function(probe)]


class _JaxPipeline(_Compiled):
    def __init__(self, pipeline):
        super().__init__()
        import jax

        def traced(trainable_values, non_trainable_values, probe):
            self._count_trace()
            return pipeline.stateless(trainable_values, non_trainable_values, probe)

        self._pipeline = pipeline
        self._function = jax.jit(traced)

    def __call__(self, probe):
        # The variables hold this step's weights once `Callback.model` has run
        # the trainer's `jax_state_sync()` (the callback reads weights only
        # through it).
        trainable = [v.value for v in self._pipeline.trainable_variables]
        non_trainable = [v.value for v in self._pipeline.non_trainable_variables]
        return [np.asarray(x) for x in self._function(trainable, non_trainable, probe)]


class _TorchPipeline(_Compiled):
    def __init__(self, pipeline):
        super().__init__()
        self._pipeline = pipeline

    def __call__(self, probe):
        import torch

        # Autograd cannot run on tensors made under inference_mode.
        mode = torch.no_grad if getattr(self._pipeline, "needs_autograd", False) else torch.inference_mode
        with mode():
            return [t.detach().cpu().numpy() for t in self._pipeline(probe)]


_PIPELINES = {
    "tensorflow": _TensorFlowPipeline,
    "jax": _JaxPipeline,
    "torch": _TorchPipeline,
}


def check_supported():
    """Raises at train begin on a Keras backend tb_actviz cannot log from."""
    name = keras.backend.backend()
    if name not in _PIPELINES:
        raise ValueError(
            "ActivationLogger supports the Keras backends %s; this Keras runs on %r. "
            "Set KERAS_BACKEND to one of them." % (", ".join(sorted(_PIPELINES)), name)
        )


def compile_pipeline(pipeline):
    """The backend's compiled `probe -> [float32 numpy [N, F, h, w]]` of an
    `extractor.LogPipeline`; its `compile_count` says how often it was
    compiled (1 per training on TensorFlow and JAX, 0 on PyTorch)."""
    check_supported()
    return _PIPELINES[keras.backend.backend()](pipeline)


class ModelPipeline:
    """What `compile_pipeline` needs of a pipeline besides `__call__` and
    `stateless`: the model's variables, and a scope in which they hold
    given values (`jax.jit` passes the step's weights as arguments)."""

    def __init__(self, model):
        self.model = model

    @property
    def trainable_variables(self):
        return self.model.trainable_variables

    @property
    def non_trainable_variables(self):
        return self.model.non_trainable_variables

    def with_values(self, trainable_values, non_trainable_values):
        """A scope in which the model's variables read as these values."""
        mapping = list(zip(self.model.trainable_variables, trainable_values))
        mapping += list(zip(self.model.non_trainable_variables, non_trainable_values))
        return keras.StatelessScope(state_mapping=mapping)


def gradients(fn, tensors):
    """Differentiates `fn(*tensors) -> (scalar, aux)` with the backend's autodiff.

    Returns:
      (aux, gradients of the scalar with respect to each of `tensors`). On
      PyTorch the gradients are taken with respect to detached copies, so no
      variable's `.grad` is touched.
    """
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for tensor in tensors:
                tape.watch(tensor)
            value, aux = fn(*tensors)
        return aux, tuple(tape.gradient(value, list(tensors)))
    if name == "jax":
        import jax

        grads, aux = jax.grad(fn, argnums=tuple(range(len(tensors))), has_aux=True)(*tensors)
        return aux, tuple(grads)
    if name == "torch":
        import torch

        with torch.enable_grad():
            leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
            value, aux = fn(*leaves)
            grads = torch.autograd.grad(value, leaves)
        return keras.tree.map_structure(lambda t: t.detach(), aux), tuple(grads)
    check_supported()
    raise AssertionError(name)


def no_gradients():
    """A context in which a forward pass records nothing for autodiff (on
    PyTorch `torch.no_grad()`; other backends record nothing eagerly)."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def to_numpy(tensor):
    """A backend tensor or variable value as a numpy array (a copy on the host)."""
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def is_chief(model):
    """Whether this process writes logs.

    - TensorFlow: all but the non-chief workers of a multi-worker
      `tf.distribute` strategy (the `chief` task, else worker 0).
    - JAX: process 0 of a multi-process run (`jax.process_index() == 0`).
    - PyTorch: rank 0 of an initialized `torch.distributed` process group.
    """
    name = keras.backend.backend()
    if name == "jax":
        import jax

        return jax.process_index() == 0
    if name == "torch":
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    return _is_tf_distribute_chief(model)


def _is_tf_distribute_chief(model):
    strategy = getattr(model, "distribute_strategy", None)
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and resolver.task_id == 0
