"""The framework callbacks on tb_actviz.torch.ActivationLogger, in real
trainings: `tb_actviz.lightning.ActivationLogger` in `Trainer.fit` (one
process, DDP on 2 gloo processes, the `pytorch_lightning` package) and
`tb_actviz.transformers.ActivationLogger` in `transformers.Trainer.train`
with tiny vision models built from a config; examples/lightning_faces.py.

Each test reads back what was written with `LogReader` and TensorBoard's
own event loader: the steps, the run (the same as the framework's
scalars), and the stored maps against a forward hook's output on the probe
(within one quantization level). Skipped where lightning / transformers are
not installed. Run in .venv-torch:

    .venv-torch/bin/python -m pytest -q tests/test_torch_frameworks.py
"""

import copy
import importlib.util
import os
import pathlib
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tensorboard.backend.event_processing import event_accumulator  # noqa: E402

import paths  # noqa: E402
from tb_actviz import metadata  # noqa: E402
from tb_actviz.reader import LogReader  # noqa: E402

REPO = pathlib.Path(paths.REPO)
PROBE_SIZE = 4


# Helpers ---------------------------------------------------------------------


def activation_steps(run_dir):
    """{tag: [steps]} of the one run written directly into `run_dir`."""
    reader = LogReader(run_dir)
    tags = reader.tags()
    assert list(tags) == ["."], "expected activations in %s itself, found runs %s" % (
        run_dir, list(tags))
    return {tag: reader.steps(".", tag) for tag in tags["."]}


def scalar_tags(run_dir):
    """The scalar tags of `run_dir`'s own event files, as TensorBoard loads them."""
    accumulator = event_accumulator.EventAccumulator(str(run_dir))
    accumulator.Reload()
    return set(accumulator.Tags()["scalars"])


def forward_outputs(model, names, inputs):
    """{name: output} of the named modules for one eval pass of `inputs`
    through a copy of `model` (forward hooks, no_grad)."""
    model = copy.deepcopy(model).eval()
    outputs = {}
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda module, args, output, name=name: outputs.__setitem__(name, output.detach()))
        for name in names
    ]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return {name: output.float().numpy() for name, output in outputs.items()}


def assert_stored(snapshot, reference, where):
    """A logged step's maps ([F, N, h, w] de-quantized) equal the reference
    output (N, C, h, w) within one quantization level of each map."""
    expected = np.transpose(reference[:, : snapshot.quantized.shape[0]], (1, 0, 2, 3))
    assert snapshot.quantized.shape == expected.shape, where
    level = (snapshot.stat("max") - snapshot.stat("min"))[..., None, None] / 255.0
    error = np.abs(snapshot.values() - expected)
    assert np.all(error <= level + 1e-5 * (1 + np.abs(expected))), (
        "%s: stored maps differ from the forward hook's by up to %g (one level: %g)"
        % (where, error.max(), level.max()))


def images(count, size, channels=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, channels, size, size, generator=generator)
    y = torch.randint(0, 2, (count,), generator=generator)
    return x, y


# Lightning ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pl():
    return pytest.importorskip("lightning.pytorch")


def tiny_net(pl_package, probe=None):
    """A small CNN LightningModule of `pl_package` (lightning.pytorch or
    pytorch_lightning): a BatchNorm that trains, one kept frozen in eval
    mode, dropout. It records, for every forward pass of the probe, whether
    the trainer was sanity checking, and for every validation step too."""

    class TinyNet(pl_package.LightningModule):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 6, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(6)
            self.conv2 = torch.nn.Conv2d(6, 8, 3, padding=1)
            self.frozen_bn = torch.nn.BatchNorm2d(8)
            self.dropout = torch.nn.Dropout(0.5)
            self.fc = torch.nn.Linear(8, 2)
            self.probe = probe
            self.probe_calls = []  # trainer.sanity_checking at each probe pass
            self.validation_calls = []  # trainer.sanity_checking at each validation step
            self.training_steps = 0

        def forward(self, x):
            if (self.probe is not None and x.shape[1:] == self.probe.shape[1:]
                    and torch.equal(x, self.probe[: len(x)].to(x))):
                self.probe_calls.append(self._trainer.sanity_checking if self._trainer else None)
            x = torch.relu(self.bn(self.conv1(x)))
            x = torch.relu(self.frozen_bn(self.conv2(x)))
            return self.fc(self.dropout(x.mean(dim=(2, 3))))

        def on_train_epoch_start(self):
            self.frozen_bn.eval()

        def training_step(self, batch, batch_index):
            self.training_steps += 1
            x, y = batch
            return torch.nn.functional.cross_entropy(self(x), y)

        def validation_step(self, batch, batch_index):
            self.validation_calls.append(self.trainer.sanity_checking)
            x, y = batch
            self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)

    return TinyNet()


def loader(x, y, batch_size=8):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size)


def trainer_options(**options):
    return dict(accelerator="cpu", devices=1, enable_progress_bar=False,
                enable_model_summary=False, log_every_n_steps=1, **options)


def module_state(module):
    """What a log must leave as it was."""
    return {
        "flags": [(name, m.training) for name, m in module.named_modules()],
        "tensors": {k: v.detach().clone() for k, v in module.state_dict().items()},
        "grads": {n: None if p.grad is None else p.grad.clone()
                  for n, p in module.named_parameters()},
        "requires_grad": [p.requires_grad for p in module.parameters()],
        "rng": torch.get_rng_state(),
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules()),
    }


def assert_same_state(before, after, where):
    assert after["flags"] == before["flags"], where
    assert after["requires_grad"] == before["requires_grad"], where
    assert after["hooks"] == before["hooks"], where
    assert torch.equal(after["rng"], before["rng"]), where
    for name, tensor in before["tensors"].items():
        assert torch.equal(after["tensors"][name], tensor), "%s: %s changed" % (where, name)
    for name, grad in before["grads"].items():
        other = after["grads"][name]
        assert (grad is None) == (other is None), "%s: .grad of %s" % (where, name)
        assert grad is None or torch.equal(grad, other), "%s: .grad of %s changed" % (where, name)


def witnesses(pl_package):
    """Two callbacks to put around the logger: the first notes the module's
    state where the logger logs, the second checks the logger left it so
    and keeps the module's weights of each logged step."""

    class Witness(pl_package.Callback):
        def __init__(self, before=None):
            self.before = before
            self.state = None
            self.weights = {}  # step -> state_dict (the second witness)
            self.checked = 0

        def _at(self, module, step):
            state = module_state(module)
            if self.before is None:
                self.state = state
                return
            assert_same_state(self.before.state, state, "after the log of step %d" % step)
            self.checked += 1
            self.weights[step] = state["tensors"]

        def on_train_start(self, trainer, module):
            self._at(module, trainer.current_epoch)

        def on_train_epoch_end(self, trainer, module):
            self._at(module, trainer.current_epoch + 1)

    first = Witness()
    return first, Witness(before=first)


def test_lightning_fit_logs_every_epoch_into_the_loggers_run(pl, tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    from tb_actviz.lightning import ActivationLogger

    epochs = 3
    x, y = images(32, 12)
    probe_x, probe_y = images(PROBE_SIZE, 12, seed=99)  # in no batch
    model = tiny_net(pl, probe=probe_x)
    before, after = witnesses(pl)
    callback = ActivationLogger((probe_x, probe_y), class_names=["no", "yes"], verbose=0)
    trainer = pl.Trainer(
        max_epochs=epochs, num_sanity_val_steps=2, enable_checkpointing=False,
        logger=TensorBoardLogger(str(tmp_path / "tb"), name="cnn"),
        callbacks=[before, callback, after], **trainer_options())
    trainer.fit(model, loader(x, y), loader(x[:16], y[:16]))

    run_dir = pathlib.Path(trainer.logger.log_dir)
    assert run_dir == tmp_path / "tb" / "cnn" / "version_0"
    assert callback.run_dir == str(run_dir) and callback.logger is None  # closed
    steps = activation_steps(run_dir)
    layer_tags = [metadata.layer_tag("conv1"), metadata.layer_tag("conv2")]
    assert sorted(steps) == sorted(layer_tags + [metadata.PROBE_TAG])
    for tag in layer_tags:
        assert steps[tag] == list(range(epochs + 1)), tag
    assert "val_loss" in scalar_tags(run_dir)  # the module's own scalars, same run

    # The sanity check ran, and no probe pass happened during it.
    assert True in model.validation_calls
    assert model.probe_calls and not any(model.probe_calls), model.probe_calls
    # The logs left the module as they found it (frozen BatchNorm included).
    assert after.checked == epochs + 1
    assert not model.frozen_bn.training and model.bn.training

    # Each step's maps are the module's at that step.
    reader = LogReader(run_dir)
    reference_model = tiny_net(pl)
    for step, weights in sorted(after.weights.items()):
        reference_model.load_state_dict(weights)
        outputs = forward_outputs(reference_model, ["conv1", "conv2"], probe_x)
        for name in ["conv1", "conv2"]:
            snapshot = reader.layer(".", metadata.layer_tag(name), step)
            assert_stored(snapshot, outputs[name], "%s at step %d" % (name, step))
            assert snapshot.info.step_unit == "epoch"


def test_lightning_every_n_epochs_into_a_given_log_dir(pl, tmp_path):
    from tb_actviz.lightning import ActivationLogger

    x, y = images(16, 10)
    log_dir = tmp_path / "activations"
    model = tiny_net(pl)
    trainer = pl.Trainer(
        max_epochs=5, logger=False, enable_checkpointing=False, default_root_dir=str(tmp_path),
        callbacks=[ActivationLogger(x[:PROBE_SIZE], log_dir=log_dir, every_n_epochs=2,
                                    max_filters=3, kernels=True, verbose=0)],
        **trainer_options())
    trainer.fit(model, loader(x, y))

    steps = activation_steps(log_dir)
    kernel_tag = metadata.KERNEL_TAG_PREFIX + "conv1"
    assert steps[metadata.layer_tag("conv2")] == [0, 2, 4]
    assert steps[kernel_tag] == [0, 2, 4]
    snapshot = LogReader(log_dir).layer(".", metadata.layer_tag("conv2"), 4)
    assert snapshot.quantized.shape[:2] == (3, PROBE_SIZE)  # max_filters passed through


def test_lightning_resumed_fit_goes_on_from_its_checkpoints_epochs(pl, tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    from tb_actviz.lightning import ActivationLogger

    x, y = images(8, 8)
    callback = ActivationLogger(x[:2], verbose=0)  # one callback, two fits
    run_dirs = []
    for epochs, checkpoint in [(2, None), (4, "first fit's")]:
        trainer = pl.Trainer(max_epochs=epochs, logger=TensorBoardLogger(str(tmp_path), name="r"),
                             callbacks=[callback], **trainer_options())
        if checkpoint:
            (checkpoint,) = (pathlib.Path(run_dirs[0]) / "checkpoints").iterdir()
        trainer.fit(tiny_net(pl), loader(x, y, batch_size=4), ckpt_path=checkpoint)
        run_dirs.append(trainer.logger.log_dir)
    assert activation_steps(run_dirs[0])[metadata.layer_tag("conv1")] == [0, 1, 2]
    assert activation_steps(run_dirs[1])[metadata.layer_tag("conv1")] == [2, 3, 4]


def test_lightning_without_a_run_says_what_to_pass(pl, tmp_path):
    from tb_actviz.lightning import ActivationLogger

    x, y = images(8, 8)
    model = tiny_net(pl)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                         default_root_dir=str(tmp_path),
                         callbacks=[ActivationLogger(x[:2])], **trainer_options())
    with pytest.raises(ValueError, match=r"no logger\..*log_dir=.*TensorBoardLogger"):
        trainer.fit(model, loader(x, y))
    assert model.training_steps == 0  # raised at fit start
    assert not any(tmp_path.rglob("*tfevents*"))


def test_lightning_options_are_checked_at_construction(pl):
    from tb_actviz.lightning import ActivationLogger

    x, _ = images(2, 8)
    with pytest.raises(TypeError, match="max_filter'.*max_filters"):
        ActivationLogger(x, max_filter=4)
    with pytest.raises(TypeError, match="step_unit"):
        ActivationLogger(x, step_unit="batch")
    with pytest.raises(ValueError, match="every_n_epochs"):
        ActivationLogger(x, every_n_epochs=0)


def test_pytorch_lightning_trainer_takes_the_second_class(tmp_path):
    pytorch_lightning = pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.loggers import TensorBoardLogger

    import tb_actviz.lightning
    from tb_actviz.lightning import PyTorchLightningActivationLogger

    callback = PyTorchLightningActivationLogger(images(2, 8)[0], verbose=0)
    assert isinstance(callback, pytorch_lightning.Callback)
    assert isinstance(callback, tb_actviz.lightning.ActivationLogger)
    x, y = images(16, 8)
    trainer = pytorch_lightning.Trainer(
        max_epochs=2, logger=TensorBoardLogger(str(tmp_path), name="pl"),
        enable_checkpointing=False, callbacks=[callback], **trainer_options())
    trainer.fit(tiny_net(pytorch_lightning), loader(x, y))
    assert activation_steps(trainer.logger.log_dir)[metadata.layer_tag("conv1")] == [0, 1, 2]


DDP_SCRIPT = """
import sys

import torch
import lightning.pytorch as pl
from lightning.pytorch.loggers import TensorBoardLogger

from tb_actviz.lightning import ActivationLogger


class Net(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    def training_step(self, batch, batch_index):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, 8, 8, generator=generator)
    y = torch.randint(0, 2, (32,), generator=generator)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False,
        logger=TensorBoardLogger(sys.argv[1], name="ddp"),
        callbacks=[ActivationLogger(x[:4], verbose=0)])
    trainer.fit(Net(), data)
    print("rank %d finished" % trainer.global_rank, flush=True)
"""


def test_lightning_ddp_rank_zero_writes_and_nothing_hangs(pl, tmp_path):
    script = tmp_path / "ddp_fit.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "logs")], cwd=str(tmp_path), env=env,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "rank 0 finished" in result.stdout and "rank 1 finished" in result.stdout
    run_dir = tmp_path / "logs" / "ddp" / "version_0"
    assert activation_steps(run_dir)[metadata.layer_tag("conv")] == [0, 1, 2]
    # One writing process: every event file there is rank 0's (its pid).
    pids = {name.split(".")[-2] for name in os.listdir(run_dir) if "tfevents" in name}
    assert len(pids) == 1, os.listdir(run_dir)
    assert not (tmp_path / "logs" / "ddp" / "version_1").exists()


def test_lightning_faces_example(pl, tmp_path):
    pytest.importorskip("skimage")
    spec = importlib.util.spec_from_file_location(
        "lightning_faces", REPO / "examples" / "lightning_faces.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    trainer = example.main(["--log_dir", str(tmp_path), "--epochs", "2", "--image_size", "32",
                            "--probe_size", "4"])

    run_dir = tmp_path / "version_0"
    assert pathlib.Path(trainer.logger.log_dir) == run_dir
    steps = activation_steps(run_dir)
    for name in ["conv1", "conv2", "conv3", "conv4"]:
        assert steps[metadata.layer_tag(name)] == [0, 1, 2], name
    assert steps[metadata.KERNEL_TAG_PREFIX + "conv1"] == [0, 1, 2]
    assert sum(tag.startswith(metadata.ATTRIBUTION_TAG_PREFIX) for tag in steps) == 2
    assert {"train_loss", "val_accuracy"} <= scalar_tags(run_dir)


# Hugging Face Trainer ----------------------------------------------------------


@pytest.fixture(scope="module")
def hf():
    pytest.importorskip("accelerate")
    return pytest.importorskip("transformers")


class PixelDataset(torch.utils.data.Dataset):
    """Generated images as a vision model's Trainer takes them."""

    def __init__(self, count, size, seed=0):
        self.x, self.y = images(count, size, seed=seed)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return {"pixel_values": self.x[index], "labels": self.y[index]}


def tiny_resnet(hf):
    config = hf.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                             layer_type="basic", num_labels=2)
    return hf.ResNetForImageClassification(config)


def tiny_vit(hf):
    config = hf.ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=16,
                          num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                          num_labels=2)
    return hf.ViTForImageClassification(config)


def train(hf, model, output_dir, callbacks, report_to, image_size=32, **arguments):
    """A real `Trainer.train`: 16 images, 2 epochs of 2 optimizer steps."""
    args = hf.TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=2, per_device_train_batch_size=8,
        use_cpu=True, report_to=report_to, logging_steps=1, save_strategy="no",
        disable_tqdm=True, seed=0, **arguments)
    trainer = hf.Trainer(model=model, args=args, train_dataset=PixelDataset(16, image_size),
                         callbacks=callbacks)
    trainer.train()
    return trainer


def test_trainer_logs_into_its_tensorboard_run(hf, tmp_path, monkeypatch):
    from transformers.integrations import TensorBoardCallback

    from tb_actviz.transformers import ActivationLogger

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    probe = PixelDataset(PROBE_SIZE, 32, seed=99).x
    callback = ActivationLogger(probe, verbose=0)
    model = tiny_resnet(hf)
    trainer = train(hf, model, tmp_path / "out", [callback], report_to="tensorboard")

    (tensorboard,) = [c for c in trainer.callback_handler.callbacks
                      if isinstance(c, TensorBoardCallback)]
    runs = list((tmp_path / "out" / "runs").iterdir())
    assert runs == [pathlib.Path(tensorboard.logging_dir)]
    assert callback.run_dir == tensorboard.logging_dir
    run_dir = runs[0]
    steps = activation_steps(run_dir)
    conv_tags = [t for t in steps if t.startswith(metadata.LAYER_TAG_PREFIX)]
    assert len(conv_tags) == 6  # every Conv2d of the tiny ResNet
    for tag in conv_tags:
        assert steps[tag] == [0, 2, 4], tag  # state.global_step: 2 steps per epoch
    assert "train/loss" in scalar_tags(run_dir)  # the Trainer's scalars, same run

    reader = LogReader(run_dir)
    names = [t[len(metadata.LAYER_TAG_PREFIX):] for t in conv_tags]
    outputs = forward_outputs(model, names, probe)
    for name in names:
        snapshot = reader.layer(".", metadata.layer_tag(name), 4)
        assert_stored(snapshot, outputs[name], name)
        assert snapshot.info.step_unit == "batch"


def test_trainer_epoch_steps_into_the_environments_dir(hf, tmp_path, monkeypatch):
    from tb_actviz.transformers import ActivationLogger

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    probe = PixelDataset(PROBE_SIZE, 16, seed=99).x
    callback = ActivationLogger(probe, step="epoch", verbose=0)
    model = tiny_vit(hf)
    train(hf, model, tmp_path / "out", [callback], report_to="none", image_size=16)

    assert callback.run_dir == str(tmp_path / "tb")
    tag = metadata.layer_tag("vit.embeddings.patch_embeddings.projection")  # the one Conv2d
    steps = activation_steps(tmp_path / "tb")
    assert steps[tag] == [0, 1, 2]
    snapshot = LogReader(tmp_path / "tb").layer(".", tag, 2)
    assert snapshot.info.step_unit == "epoch"
    reference = forward_outputs(model, ["vit.embeddings.patch_embeddings.projection"], probe)
    assert_stored(snapshot, reference["vit.embeddings.patch_embeddings.projection"], tag)
    assert not (tmp_path / "out" / "runs").exists()


def test_trainer_default_dir_without_tensorboard_reporting(hf, tmp_path, monkeypatch):
    from tb_actviz.transformers import ActivationLogger

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    # attributions: the model returns a ModelOutput, whose one tensor (loss is
    # None without labels) is the logits.
    callback = ActivationLogger(PixelDataset(2, 32).x, layers=["conv:0"], attributions=True,
                                verbose=0)
    train(hf, tiny_resnet(hf), tmp_path / "out", [callback], report_to="none")

    (run_dir,) = (tmp_path / "out" / "runs").iterdir()  # <output_dir>/runs/<time>_<host>
    assert re.fullmatch(r"[A-Z][a-z]{2}\d\d_\d\d-\d\d-\d\d_" + re.escape(socket.gethostname()),
                        run_dir.name)
    assert callback.run_dir == str(run_dir)
    steps = activation_steps(run_dir)
    attribution_tags = [t for t in steps if t.startswith(metadata.ATTRIBUTION_TAG_PREFIX)]
    assert len(attribution_tags) == 2  # Grad-CAM and saliency
    for tag in attribution_tags + [metadata.layer_tag("resnet.embedder.embedder.convolution")]:
        assert steps[tag] == [0, 2, 4], tag


def test_trainer_tensorboard_callback_with_a_writer_of_its_own(hf, tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    from tb_actviz.transformers import ActivationLogger

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    writer_dir = tmp_path / "custom"
    callbacks = [TensorBoardCallback(tb_writer=SummaryWriter(str(writer_dir))),
                 ActivationLogger(PixelDataset(2, 32).x, layers=["conv:-1"], verbose=0)]
    train(hf, tiny_resnet(hf), tmp_path / "out", callbacks, report_to="none")

    # The activations follow the Trainer's scalars into the writer's dir.
    assert list(activation_steps(writer_dir).values())[0] == [0, 2, 4]
    assert "train/loss" in scalar_tags(writer_dir)


def test_trainer_callback_on_other_processes_does_nothing(hf, tmp_path):
    from tb_actviz.transformers import ActivationLogger

    args = hf.TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none")
    state = hf.TrainerState(is_world_process_zero=False)
    callback = ActivationLogger(PixelDataset(2, 32).x, log_dir=tmp_path / "acts")
    model = tiny_resnet(hf)
    callback.on_train_begin(args, state, hf.TrainerControl(), model=model)
    state.global_step, state.epoch = 2, 1.0
    callback.on_epoch_end(args, state, hf.TrainerControl(), model=model)
    callback.on_train_end(args, state, hf.TrainerControl(), model=model)
    assert callback.logger is None
    assert not (tmp_path / "acts").exists()


def test_trainer_callback_options_are_checked(hf):
    from tb_actviz.transformers import ActivationLogger

    x = PixelDataset(2, 8).x
    with pytest.raises(ValueError, match="'global_step'.*'epoch'"):
        ActivationLogger(x, step="batch")
    with pytest.raises(TypeError, match="kernel'.*kernels"):
        ActivationLogger(x, kernel=True)
    with pytest.raises(TypeError, match="step="):
        ActivationLogger(x, step_unit="epoch")


def test_trainer_tensorboard_callback_added_after_the_logger_shares_its_run(hf, tmp_path,
                                                                             monkeypatch):
    from transformers.integrations import TensorBoardCallback

    from tb_actviz.transformers import ActivationLogger

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    callback = ActivationLogger(PixelDataset(2, 32).x, layers=["conv:0"], verbose=0)
    train(hf, tiny_resnet(hf), tmp_path / "out", [callback, TensorBoardCallback()],
          report_to="none")

    (run_dir,) = (tmp_path / "out" / "runs").iterdir()
    assert callback.run_dir == str(run_dir)
    assert list(activation_steps(run_dir).values())[0] == [0, 2, 4]
    assert "train/loss" in scalar_tags(run_dir)
