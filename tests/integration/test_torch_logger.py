"""tb_actviz.torch.ActivationLogger in plain PyTorch training loops.

Real torchvision models (`weights=None`), real training steps, real log dirs
read back with `LogReader` and served by a real `tensorboard`; every stored
map is compared with a forward hook's output on the probe. Runs in the
PyTorch venv (`.venv-torch`); skipped where torch is missing.
"""

import copy
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import paths  # noqa: E402
from log_parsing import area_average, dequantize  # noqa: E402
from tensorboard_process import READY_DEADLINE, TensorBoardProcess  # noqa: E402
import tb_actviz.torch as tbt  # noqa: E402
from tb_actviz import metadata  # noqa: E402
from tb_actviz.reader import LogReader  # noqa: E402

RUN = "."  # the logger writes into log_dir itself


def images(count=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, size, size, generator=g)


def small_cnn(inplace=True):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(inplace=inplace),
        torch.nn.Conv2d(8, 6, 3), torch.nn.ReLU(inplace=inplace),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, 3),
    )


def train_steps(model, x, y, steps=2, lr=0.05):
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return optimizer


def hooked_outputs(model, x, names):
    """Each named module's first output on `x`, in eval mode: the reference."""
    model = copy.deepcopy(model).eval()
    found = {}
    by_name = dict(model.named_modules())
    def keep(name):
        def hook(module, args, output):  # returns None: the output goes on unchanged
            found.setdefault(name, output.detach().float().clone())
        return hook

    handles = [by_name[n].register_forward_hook(keep(n)) for n in names]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return {n: found[n].numpy() for n in names}


def assert_stored_equals(log_dir, name, reference, step):
    """The logged maps of `name` at `step` equal `reference` (N, C, H, W)
    area-averaged as stored, within one quantization level per map."""
    snapshot = LogReader(log_dir).layer(RUN, metadata.layer_tag(name), step)
    info = snapshot.info
    stored = snapshot.values()  # (F, N, h, w)
    factor = info.downsample_factor
    expected = area_average(np.moveaxis(reference, 1, -1), factor)  # (N, h, w, C)
    expected = np.moveaxis(expected, -1, 0)[: stored.shape[0]]
    assert stored.shape == expected.shape, (name, stored.shape, expected.shape)
    low = expected.min(axis=(2, 3), keepdims=True)
    high = expected.max(axis=(2, 3), keepdims=True)
    tolerance = (high - low) / 255.0 * 1.01 + 1e-5
    assert (np.abs(stored - expected) <= tolerance).all(), (name, np.abs(stored - expected).max())


def state_of(model, optimizer=None):
    state = {
        "flags": [m.training for m in model.modules()],
        "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()},
        "rng": torch.get_rng_state().clone(),
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()),
    }
    if optimizer is not None:
        state["optimizer"] = copy.deepcopy(optimizer.state_dict())
    return state


def assert_same_state(before, after):
    assert before["flags"] == after["flags"]
    assert before["tensors"].keys() == after["tensors"].keys()
    for key, value in before["tensors"].items():
        assert torch.equal(value, after["tensors"][key]), key
    for key, grad in before["grads"].items():
        other = after["grads"][key]
        assert (grad is None) == (other is None), key
        assert grad is None or torch.equal(grad, other), key
    assert torch.equal(before["rng"], after["rng"])
    assert before["hooks"] == after["hooks"]
    if "optimizer" in before:
        assert str(before["optimizer"]) == str(after["optimizer"])


# Real models in a plain loop -------------------------------------------------


@pytest.mark.parametrize("arch, names", [
    ("resnet18", ["conv1", "layer2.0.downsample.0", "layer4.1.conv2"]),
    # features.17: unpooled (28 x 28 at 64 px), an in-place ReLU after it.
    ("vgg16", ["features.0", "features.17", "features.28"]),
])
def test_torchvision_model_in_a_plain_loop_stores_the_hooked_outputs(tmp_path, arch, names):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=4)
    x, y = images(4, 64), torch.tensor([0, 1, 2, 3])
    log_dir = str(tmp_path / arch)
    with tbt.ActivationLogger(log_dir, (x, y), layers=names, verbose=0) as logger:
        logger.log(model, 0)
        for epoch in (1, 2):
            optimizer = train_steps(model, x, y, steps=1, lr=0.01)
            before = state_of(model, optimizer)
            logger.log(model, epoch)
            assert_same_state(before, state_of(model, optimizer))
        assert logger.logged_layers == names
    reader = LogReader(log_dir)
    for name in names:
        assert reader.steps(RUN, metadata.layer_tag(name)) == [0, 1, 2]
    reference = hooked_outputs(model, x, names)
    for name in names:
        assert_stored_equals(log_dir, name, reference[name], 2)
    assert reader.labels(RUN) == ["0", "1", "2", "3"]


def test_default_selection_is_the_conv_modules_in_call_order(tmp_path):
    model = torchvision.models.resnet18(weights=None)
    table = tbt.list_layers(model, images(2, 64), print_fn=None)
    convs = [e.path for e in table if e.is_conv]
    assert len(convs) == 20
    by_order = sorted((e for e in table if e.is_conv), key=lambda e: e.call_order)
    # downsample convs run after the block's convs (their outputs are added last)
    assert by_order[0].path == "conv1" and by_order[-1].path == "layer4.1.conv2"
    logger = tbt.ActivationLogger(str(tmp_path), images(2, 64), max_layers=4, verbose=0)
    logger.log(model, 0)
    logger.close()
    assert len(logger.logged_layers) == 4
    assert logger.logged_layers[0] == "conv1" and logger.logged_layers[-1] == "layer4.1.conv2"


def test_list_layers_rows_select_exactly_themselves(capsys):
    model = torchvision.models.resnet18(weights=None)
    table = tbt.list_layers(model, images(2, 64))
    printed = capsys.readouterr().out
    assert '"layer4.1.conv2"' in printed and '"conv:19"' in printed
    from tb_actviz.torch import modules

    for entry in table:
        assert modules.resolve_one(table, entry.path) == [entry]
    assert [e.path for e in modules.resolve_one(table, "conv:-1")] == ["layer4.1.conv2"]
    assert [e.path for e in modules.resolve_one(table, "layer4.*.conv2")] == [
        "layer4.0.conv2", "layer4.1.conv2"]


def test_selection_errors_name_what_would_work(tmp_path):
    model = small_cnn()
    x = images(2)
    with pytest.raises(ValueError, match=r"no layer matches 'conv9'(.|\n)*The model's layers"):
        tbt.ActivationLogger(str(tmp_path), x, layers="conv9", verbose=0).log(model, 0)
    with pytest.raises(ValueError, match=r"'conv:5': the model has 2 convolution layers"):
        tbt.ActivationLogger(str(tmp_path), x, layers="conv:5", verbose=0).log(model, 0)
    with pytest.raises(ValueError, match=r"Linear is not a module of this model"):
        tbt.ActivationLogger(str(tmp_path), x, layers=torch.nn.Linear(2, 2), verbose=0).log(model, 0)
    with pytest.raises(ValueError, match=r"the probe could not be run through the model"):
        tbt.ActivationLogger(str(tmp_path), torch.rand(2, 5, 8, 8), verbose=0).log(model, 0)
    with pytest.raises(ValueError, match=r"step must be a non-negative integer"):
        tbt.ActivationLogger(str(tmp_path), x, verbose=0).log(model, -1)


def test_a_module_object_and_a_never_called_module(tmp_path):
    class WithSpare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = small_cnn()
            self.spare = torch.nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.body(x)

    model = WithSpare()
    logger = tbt.ActivationLogger(str(tmp_path), images(2), layers=model.body[3], verbose=0)
    logger.log(model, 0)
    logger.close()
    assert logger.logged_layers == ["body.3"]
    with pytest.raises(ValueError, match=r"spare \(Conv2d\), which cannot be logged: not called"):
        tbt.ActivationLogger(str(tmp_path / "b"), images(2), layers="spare", verbose=0).log(model, 0)


def test_a_shared_module_is_logged_at_its_first_call_with_a_warning(tmp_path, caplog):
    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(torch.relu(self.conv(x)))

    model = Twice()
    x = images(2, 12)
    with caplog.at_level(logging.WARNING, "tb_actviz"):
        with tbt.ActivationLogger(str(tmp_path), x, layers="conv", verbose=0) as logger:
            logger.log(model, 0)
    assert "called 2 times per forward pass" in caplog.text
    with torch.no_grad():
        first = model.conv(x).numpy()
    assert_stored_equals(str(tmp_path), "conv", first, 0)


# A log leaves the model as it found it ---------------------------------------


def test_a_log_leaves_flags_buffers_grads_and_rng_untouched(tmp_path):
    class Noisy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = small_cnn()
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, x):
            x = x + 0.01 * torch.randn_like(x)  # randomness in eval mode too
            return self.drop(self.cnn(x))

    model = Noisy()
    x, y = images(4), torch.tensor([0, 1, 2, 0])
    optimizer = train_steps(model, x, y, steps=2)
    model.cnn[1].eval()  # a frozen BatchNorm inside a training model
    model(x).sum().backward()  # .grad present when the log runs
    before = state_of(model, optimizer)
    with tbt.ActivationLogger(str(tmp_path), x, kernels=True, attributions=True, verbose=0) as logger:
        logger.log(model, 0)
        logger.log(model, 1)
    after = state_of(model, optimizer)
    assert_same_state(before, after)
    assert model.training and not model.cnn[1].training and model.drop.training
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


def test_a_forward_that_raises_warns_and_leaves_no_hook(tmp_path, caplog):
    class Flaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = small_cnn()
            self.fail = False

        def forward(self, x):
            x = self.cnn[0](x)
            if self.fail:
                raise RuntimeError("out of memory (simulated by the model)")
            return self.cnn[1:](x)

    model = Flaky()
    model.train()
    logger = tbt.ActivationLogger(str(tmp_path), images(2), layers=["cnn.0", "cnn.3"], verbose=0)
    logger.log(model, 0)
    model.fail = True
    with caplog.at_level(logging.WARNING, "tb_actviz"):
        logger.log(model, 1)
    assert "could not log step 1" in caplog.text and "out of memory" in caplog.text
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    assert model.training and all(m.training for m in model.modules())
    model.fail = False
    logger.log(model, 2)
    logger.close()
    assert LogReader(str(tmp_path)).steps(RUN, metadata.layer_tag("cnn.3")) == [0, 2]


# Models as people wrap them --------------------------------------------------


def test_torch_compile_logs_the_original_module_with_clean_names(tmp_path):
    model = small_cnn()
    compiled = torch.compile(model)
    x = images(3)
    table = tbt.list_layers(compiled, x, print_fn=None)
    assert [e.path for e in table][:2] == ["0", "1"]
    with tbt.ActivationLogger(str(tmp_path), x, layers=["_orig_mod.0", "3"], verbose=0) as logger:
        logger.log(compiled, 0)
    assert logger.logged_layers == ["0", "3"]
    assert_stored_equals(str(tmp_path), "3", hooked_outputs(model, x, ["3"])["3"], 0)


def test_channels_last_bfloat16_and_autocast(tmp_path):
    x = images(3, 40)
    model = small_cnn().to(memory_format=torch.channels_last)
    reference = hooked_outputs(model, x, ["0", "3"])
    with tbt.ActivationLogger(str(tmp_path / "cl"), x, layers=["0", "3"], verbose=0) as logger:
        logger.log(model, 0)
    for name in ("0", "3"):
        assert_stored_equals(str(tmp_path / "cl"), name, reference[name], 0)

    bf16 = small_cnn().to(torch.bfloat16)
    with tbt.ActivationLogger(str(tmp_path / "bf16"), x, layers=["0", "3"], attributions=True,
                              verbose=0) as logger:
        logger.log(bf16, 0)
    reference = hooked_outputs(bf16, x.to(torch.bfloat16), ["3"])["3"]
    assert_stored_equals(str(tmp_path / "bf16"), "3", reference, 0)
    assert LogReader(str(tmp_path / "bf16")).steps(RUN, metadata.attribution_tag("grad_cam")) == [0]

    model = small_cnn()
    with tbt.ActivationLogger(str(tmp_path / "autocast"), x, layers=["3"], verbose=0) as logger:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logger.log(model, 0)
            reference = hooked_outputs(model, x, ["3"])["3"]
    assert_stored_equals(str(tmp_path / "autocast"), "3", reference, 0)


def test_data_parallel_prefix_is_accepted_and_left_out(tmp_path):
    model = small_cnn()
    wrapped = torch.nn.DataParallel(model)  # on CPU: calls the module itself
    with tbt.ActivationLogger(str(tmp_path), images(2), layers="module.3", kernels="module.0",
                              verbose=0) as logger:
        logger.log(wrapped, 0)
    assert logger.logged_layers == ["3"]
    reader = LogReader(str(tmp_path))
    assert reader.steps(RUN, metadata.KERNEL_TAG_PREFIX + "0") == [0]


def test_another_model_at_a_later_log_is_refused(tmp_path):
    logger = tbt.ActivationLogger(str(tmp_path), images(2), verbose=0)
    logger.log(small_cnn(), 0)
    with pytest.raises(ValueError, match="another model than at its first log"):
        logger.log(small_cnn(), 1)
    logger.close()


def test_ddp_on_two_gloo_processes_one_writer_no_hang(tmp_path):
    worker = paths.script("torch_native_ddp_worker.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([paths.REPO, paths.SUPPORT]))
    result = subprocess.run(
        [sys.executable, worker, str(tmp_path)], env=env, capture_output=True, text=True,
        timeout=READY_DEADLINE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rank 1 done" in result.stdout and "rank 0 done" in result.stdout
    events = [n for n in os.listdir(tmp_path / "run") if "tfevents" in n]
    assert len(events) == 1, events  # one writer
    reader = LogReader(str(tmp_path / "run"))
    assert reader.steps(RUN, metadata.layer_tag("3")) == [0, 1, 2]


def test_fsdp_is_refused_with_what_would_work(tmp_path):
    script = textwrap.dedent("""
        import os, sys, torch, torch.distributed as dist
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2], RANK="0", WORLD_SIZE="1")
        dist.init_process_group("gloo", rank=0, world_size=1)
        from torch.distributed.fsdp import fully_shard
        import tb_actviz.torch as tbt
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
        model(torch.rand(1, 3, 8, 8))
        fully_shard(model)
        try:
            tbt.ActivationLogger(sys.argv[1], torch.rand(2, 3, 8, 8), verbose=0).log(model, 0)
        except ValueError as e:
            print("REFUSED", e)
        dist.destroy_process_group()
    """)
    from tensorboard_process import free_port

    result = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(free_port())],
                            capture_output=True, text=True, timeout=READY_DEADLINE)
    assert "REFUSED" in result.stdout, result.stdout + result.stderr
    assert "sharded with FSDP" in result.stdout and "DistributedDataParallel" in result.stdout


# Attributions -----------------------------------------------------------------


def reference_attributions(model, x, targets, cam_index):
    """Grad-CAM and saliency by hand on a copy of a Sequential: split at the
    Grad-CAM conv, `retain_grad` on its output, `backward` of the targets'
    summed logits."""
    model = copy.deepcopy(model).eval()
    x = x.clone().requires_grad_(True)
    features = model[: cam_index + 1](x)
    features.retain_grad()
    logits = model[cam_index + 1:](features.clone())  # the clone: in-place ReLUs follow
    logits.gather(1, targets[:, None]).sum().backward()
    weights = features.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((features * weights).sum(1)).detach().numpy()
    saliency = x.grad.abs().amax(dim=1).numpy()
    return cam, saliency, torch.softmax(logits, 1).detach().numpy()


def test_attributions_equal_a_hand_written_reference(tmp_path):
    model = small_cnn()
    x, y = images(4, 20), torch.tensor([2, 0, 1, 2])
    train_steps(model, x, y, steps=3)
    log_dir = str(tmp_path)
    with tbt.ActivationLogger(log_dir, (x, y), layers="0", attributions=True, max_map_size=32,
                              class_names=["a", "b", "c"], verbose=0) as logger:
        logger.log(model, 0)
    cam, saliency, probabilities = reference_attributions(model, x, y, 3)
    reader = LogReader(log_dir)
    for tag, expected in (("grad_cam", cam), ("saliency", saliency)):
        snapshot = reader.attribution(RUN, metadata.attribution_tag(tag), 0)
        maps = snapshot.values()  # (N, h, w)
        low, high = expected.min(axis=(1, 2), keepdims=True), expected.max(axis=(1, 2), keepdims=True)
        assert maps.shape == expected.shape
        assert (np.abs(maps - expected) <= (high - low) / 255 * 1.01 + 1e-6).all(), tag
    snapshot = reader.attribution(RUN, metadata.attribution_tag("grad_cam"), 0)
    np.testing.assert_array_equal(snapshot.field("target_class"), y.numpy())
    np.testing.assert_allclose(snapshot.field("target_score"),
                               probabilities[np.arange(4), y.numpy()], rtol=1e-5)
    np.testing.assert_array_equal(snapshot.field("predicted_class"), probabilities.argmax(1))
    assert snapshot.info.attribution_target == "label"
    assert snapshot.info.layer_path == "3"  # the last conv with maps > 1x1


def test_a_final_softmax_module_is_left_out_of_the_score(tmp_path):
    logits_model = small_cnn()
    softmax_model = torch.nn.Sequential(*logits_model, torch.nn.Softmax(dim=1))
    x = images(3, 20)
    for name, model in (("logits", logits_model), ("softmax", softmax_model)):
        with tbt.ActivationLogger(str(tmp_path / name), x, layers="0",
                                  attributions=tbt.Attributions(target="predicted"), verbose=0) as lg:
            lg.log(model, 0)
    a, b = (LogReader(str(tmp_path / n)).attribution(RUN, metadata.attribution_tag("grad_cam"), 0)
            for n in ("logits", "softmax"))
    np.testing.assert_allclose(a.values(), b.values(), atol=1e-6)
    np.testing.assert_allclose(a.field("predicted_score"), b.field("predicted_score"), rtol=1e-6)
    with pytest.raises(ValueError, match=r"ends in Softmax; leave output= out"):
        tbt.ActivationLogger(str(tmp_path / "c"), x, attributions=tbt.Attributions(output="logits"),
                             verbose=0).log(softmax_model, 0)
    with pytest.raises(ValueError, match=r"needs a classifier whose forward returns \(batch, classes\)"):
        tbt.ActivationLogger(str(tmp_path / "d"), x, attributions=True, verbose=0).log(
            logits_model[:3], 0)


# The same tab and tools ---------------------------------------------------------


def test_no_keras_is_imported(tmp_path):
    script = textwrap.dedent("""
        import sys, torch
        import tb_actviz.torch as tbt
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
        with tbt.ActivationLogger(sys.argv[1], torch.rand(2, 3, 8, 8), verbose=0) as logger:
            logger.log(model, 0)
        print("keras" in sys.modules, "tensorflow" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                            text=True, timeout=READY_DEADLINE)
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_tensorboard_serves_a_pytorch_run(tmp_path, load_fast):
    model = torchvision.models.resnet18(weights=None, num_classes=3)
    x, y = images(4, 64), torch.tensor([0, 1, 2, 0])
    run = tmp_path / "logs" / "resnet"
    with tbt.ActivationLogger(str(run), (x, y), layers=["conv1", "layer4.1.conv2"], kernels=True,
                              attributions=True, class_names=["a", "b", "c"], verbose=0) as lg:
        lg.log(model, 0)
        train_steps(model, x, y, steps=1, lr=0.01)
        lg.log(model, 1)
    server = TensorBoardProcess(str(tmp_path / "logs"), load_fast,
                                log_path=str(tmp_path / "tb.log")).start()
    try:
        tag = metadata.layer_tag("layer4.1.conv2")
        server.wait_until(lambda: server.served_steps("resnet", tag) == [0, 1], "the PyTorch run")
        runs = server.plugin_json("runs")
        run_info = [r for r in runs["runs"] if r["run"] == "resnet"][0]
        layer_paths = [layer["path"] for layer in run_info["layers"]]
        assert layer_paths == ["conv1", "layer4.1.conv2"]
        status, _, body = server.plugin("blob", run="resnet", tag=metadata.PROBE_TAG, step=0, index=0)
        assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"
        from PIL import Image
        import io

        probe = np.asarray(Image.open(io.BytesIO(body)))
        assert probe.shape == (64, 64, 3)  # NCHW shown as an RGB picture
    finally:
        server.stop()


class TinyViT(torch.nn.Module):
    """A patch embedding (4x4 patches of 16x16 images: a 4 x 4 grid), a
    class token, one transformer encoder layer, a linear head."""

    def __init__(self, width=8):
        super().__init__()
        torch.manual_seed(0)
        self.patches = torch.nn.Conv2d(3, width, 4, stride=4)
        self.cls = torch.nn.Parameter(torch.randn(1, 1, width))
        self.encoder = torch.nn.TransformerEncoderLayer(width, 2, 16, dropout=0.0, batch_first=True)
        self.head = torch.nn.Linear(width, 3)

    def forward(self, x):
        tokens = self.patches(x).flatten(2).transpose(1, 2)  # (N, 16, C), row-major
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
        return self.head(self.encoder(tokens)[:, 0])


def test_vit_tokens_are_laid_out_as_the_patch_grid(tmp_path):
    model = TinyViT()
    x = images(3, 16)
    with tbt.ActivationLogger(str(tmp_path / "auto"), x, layers=["patches", "encoder"],
                              verbose=0) as logger:
        logger.log(model, 0)
    snapshot = LogReader(str(tmp_path / "auto")).layer(RUN, metadata.layer_tag("encoder"), 0)
    assert snapshot.info.map_kind == "token_grid" and snapshot.info.leading_tokens == 1
    tokens = hooked_outputs(model, x, ["encoder"])["encoder"]  # (N, 17, C)
    grid = np.moveaxis(tokens[:, 1:].reshape(3, 4, 4, -1), -1, 1)
    assert_stored_equals(str(tmp_path / "auto"), "encoder", grid, 0)
    with tbt.ActivationLogger(str(tmp_path / "off"), x, layers="encoder", token_grid=False,
                              verbose=0) as logger:
        logger.log(model, 0)
    info = LogReader(str(tmp_path / "off")).layer(RUN, metadata.layer_tag("encoder"), 0).info
    assert info.map_kind == "sequence"
    with pytest.raises(ValueError, match=r"TokenGrid\(height=5, width=5, leading=None\) does not lay out"):
        tbt.ActivationLogger(str(tmp_path / "bad"), x, layers="encoder",
                             token_grid={"encoder": tbt.TokenGrid(5, 5)}, verbose=0).log(model, 0)


def test_the_example_trains_and_logs(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(paths.EXAMPLES, "torch_resnet.py"),
         "--log_dir", str(tmp_path / "run"), "--epochs", "1", "--image_size", "32", "--probe_size", "4"],
        capture_output=True, text=True, timeout=READY_DEADLINE)
    assert result.returncode == 0, result.stdout + result.stderr
    reader = LogReader(str(tmp_path / "run"))
    for name in ("conv1", "layer2.0.conv1", "layer4.1.conv2"):
        assert reader.steps(RUN, metadata.layer_tag(name)) == [0, 1]
    assert reader.steps(RUN, metadata.attribution_tag("grad_cam")) == [0, 1]
    assert reader.labels(RUN)[:1][0] in ("face", "not face")
    # tb-actviz export draws a PyTorch run as it draws a Keras one.
    from PIL import Image

    for view, extra, name in (("filters", ["--layer", "layer4.1.conv2"], "f.png"),
                              ("attention", [], "cam.png")):
        out = str(tmp_path / name)
        done = subprocess.run(
            [sys.executable, "-m", "tb_actviz.export", "export", view, "--logdir", str(tmp_path / "run")] + extra
            + ["-o", out], capture_output=True, text=True, timeout=READY_DEADLINE)
        assert done.returncode == 0, done.stderr
        assert Image.open(out).size[0] > 100


def test_a_model_cast_between_logs_gets_the_probe_in_its_new_dtype(tmp_path):
    model = small_cnn()
    x = images(2)
    with tbt.ActivationLogger(str(tmp_path), x, layers="3", verbose=0) as logger:
        logger.log(model, 0)
        model.double()
        logger.log(model, 1)
    assert LogReader(str(tmp_path)).steps(RUN, metadata.layer_tag("3")) == [0, 1]
    assert_stored_equals(str(tmp_path), "3", hooked_outputs(model, x.double(), ["3"])["3"], 1)


@pytest.mark.parametrize("final_softmax, one_pass", [(False, True), (True, False)])
def test_with_attributions_one_forward_gives_the_modules_maps(tmp_path, final_softmax, one_pass):
    # The softmax module's maps are its output, which the attribution pass
    # replaces by its input: logging it takes a pass of its own.
    model = small_cnn()
    if final_softmax:
        model = torch.nn.Sequential(*model, torch.nn.Softmax(dim=1))
    x, y = images(4, 20), torch.tensor([2, 0, 1, 2])
    train_steps(model, x, y, steps=3)
    layers = ["0", "3"] + (["8"] if final_softmax else [])
    runs = []
    counter = model.register_forward_pre_hook(lambda module, args: runs.append(1))
    try:
        with tbt.ActivationLogger(str(tmp_path / "both"), (x, y), layers=layers, attributions=True,
                                  verbose=0) as both, \
                tbt.ActivationLogger(str(tmp_path / "alone"), (x, y), layers=layers, verbose=0) as alone:
            both.log(model, 0)
            alone.log(model, 0)
            assert both._pass._one_pass is one_pass
            runs.clear()
            both.log(model, 1)
            assert len(runs) == (1 if one_pass else 2)
    finally:
        counter.remove()
    ours, theirs = LogReader(str(tmp_path / "both")), LogReader(str(tmp_path / "alone"))
    for path in layers:
        a = ours.layer(RUN, metadata.layer_tag(path), 0)
        b = theirs.layer(RUN, metadata.layer_tag(path), 0)
        np.testing.assert_allclose(a.stats, b.stats, rtol=1e-5, atol=1e-6)
        span = np.maximum(b.stat("max") - b.stat("min"), 1e-6)[..., None, None]
        assert (np.abs(a.values() - b.values()) <= span / 255 * 1.01 + 1e-6).all(), path
    if final_softmax:
        np.testing.assert_allclose(ours.layer(RUN, metadata.layer_tag("8"), 0).stat("mean") * 3, 1,
                                   rtol=1e-5)
