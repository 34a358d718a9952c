"""What attributions cost on one Keras backend, beside the bare forward + backward pass.

Run it in each backend's environment (`KERAS_BACKEND`: tensorflow, jax or
torch). Medians over `--repeats` repetitions, floor and attribution
alternated (ABAB...) so that the shared machine's noise hits both alike:

- floor: the bare compiled forward and backward pass of the probe by the
  backend's best means, the input gradient copied to the host: `tf.function`
  with a `GradientTape`; `jax.jit` of `jax.grad` over `stateless_call`;
  eager torch autograd. The score is the sum of each image's top logit.
- attribution pass: tb_actviz's compiled Grad-CAM + saliency function
  (`capture.attribution`, through `capture.backends`), maps and predictions
  copied to the host: what a log costs the training thread; its ratio to the
  floor (target <= 1.25x).
- log with attributions: what a log with `attributions=True` runs on the
  training thread (`capture.log_capture.LogCapture` with the seed's two
  layers, block1_conv1 and block5_conv3): one compiled forward + backward
  whose maps are the layers' too; its ratio to the attribution pass alone
  (target <= 1.05x). Beside it, the same with two passes (the layers' own
  forward, then the attribution pass), as before issue [16].
- formatting: the background job's share (statistics, 8-bit strips, PNG) of
  both methods' maps, off the training thread.
- the model: VGG16 (`weights=None`, 224x224x3, no top) nested in a
  classifier (global average, Dense(10, softmax)), as transfer learning
  builds it; 8 probe images (scikit-image's bundled photos, offline).
- `examples/faces.py`: fit time without tb_actviz, with `ActivationLogger`
  as the example configures it but `attributions=False`, and with
  `attributions=True` (the example's default); what attributions add.

Then one `JSON {...}` line with every number.

    KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/bench_attribution.py --quick
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/bench_attribution.py --quick
    KERAS_BACKEND=torch .venv-torch/bin/python benchmarks/bench_attribution.py --quick
"""

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from bench_callback import load_average, log, median, probe_images, timed  # noqa: E402
from report import fmt_s, print_table  # noqa: E402

TARGET_RATIO = 1.25
LOG_TARGET_RATIO = 1.05


def transfer_model():
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs))
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def make_floor(model, backend):
    """probe -> host input gradient of the summed top logits, compiled."""
    import keras

    logits_model = keras.Model(model.inputs, model.layers[-1].input)
    head = model.layers[-1]

    def score(logits_features):
        logits = keras.ops.matmul(logits_features, head.kernel) + head.bias
        return keras.ops.sum(keras.ops.max(logits, axis=1))

    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(autograph=False)
        def floor(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = score(logits_model(x, training=False))
            return tape.gradient(value, x)

        return lambda x: floor(x).numpy()
    if backend == "jax":
        import jax

        def value(trainable, non_trainable, x):
            features, _ = logits_model.stateless_call(trainable, non_trainable, x, training=False)
            return score(features)

        function = jax.jit(jax.grad(value, argnums=2))
        # The head's weights are read as constants: the floor differentiates the input only.
        trainable = [v.value for v in logits_model.trainable_variables]
        non_trainable = [v.value for v in logits_model.non_trainable_variables]
        return lambda x: np.asarray(function(trainable, non_trainable, x))
    import torch

    def floor(x):
        leaf = x.detach().clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(score(logits_model(leaf, training=False)), [leaf])
        return gradient.cpu().numpy()

    return floor


def log_captures(model, probe):
    """(one pass, two passes): `LogCapture`s of the seed's two layers with
    attributions, the layers' maps from the attribution pass, and from a
    forward of their own."""
    from tb_actviz.capture import attribution, extractor, layer_selection, log_capture
    from tb_actviz.capture import probe as probe_lib

    entries = layer_selection.select_layers(model, ["conv:0", "conv:-1"])
    logged = [extractor.LoggedLayer.of(e, 49, 32) for e in entries]
    given = probe_lib.for_model(probe_lib.make_probe(probe, 16), model)

    def capture(one_pass):
        pipeline = attribution.AttributionPipeline(
            model, attribution.select_cam_layer(model), len(probe), None, None, 32)
        if not one_pass:
            pipeline.records = lambda log_pipeline: False
        return log_capture.LogCapture(model, logged, [], given, pipeline)

    return capture(True), capture(False)


def bench_pass(model, probe, repeats, calls):
    import keras

    from tb_actviz.capture import attribution, backends
    from tb_actviz.format import blob_layout

    backend = keras.backend.backend()
    tensor = keras.ops.convert_to_tensor(probe)
    floor = make_floor(model, backend)
    pipeline = attribution.AttributionPipeline(
        model, attribution.select_cam_layer(model), len(probe), None, None, 32)
    compiled = backends.compile_pipeline(pipeline)
    one_pass, two_passes = log_captures(model, probe)
    first_floor, _ = timed(lambda: floor(tensor))
    first_pass, outputs = timed(lambda: compiled(tensor))
    first_log, _ = timed(one_pass)
    timed(two_passes)
    arms = [("floor", lambda: floor(tensor)), ("pass", lambda: compiled(tensor)),
            ("log", one_pass), ("log_two_passes", two_passes)]
    times = {name: [] for name, _ in arms}
    ratios, log_ratios, two_pass_ratios = [], [], []
    for r in range(repeats):
        got = {}
        for name, fn in (arms if r % 2 == 0 else arms[::-1]):
            got[name] = timed(lambda: [fn() for _ in range(calls)])[0] / calls
            times[name].append(got[name])
        ratios.append(got["pass"] / got["floor"])
        log_ratios.append(got["log"] / got["pass"])
        two_pass_ratios.append(got["log_two_passes"] / got["pass"])
        log("    repetition %d: floor %s, attribution pass %s (%.2fx); log with attributions %s "
            "(%.2fx the pass; two passes %s, %.2fx)"
            % (r + 1, fmt_s(got["floor"]), fmt_s(got["pass"]), ratios[-1], fmt_s(got["log"]),
               log_ratios[-1], fmt_s(got["log_two_passes"]), two_pass_ratios[-1]))
    cam, saliency, predictions = outputs
    formats = []
    for _ in range(repeats):
        formats.append(timed(lambda: [blob_layout.attribution_blobs(m, predictions) for m in (cam, saliency)])[0])
    stored = sum(len(b) for m in (cam, saliency) for b in blob_layout.attribution_blobs(m, predictions)[0])
    return {
        "cam_layer": pipeline.cam_entry.path,
        "cam_map": list(cam.shape[2:]),
        "saliency_map": list(saliency.shape[2:]),
        "first_floor_s": first_floor,
        "first_pass_s": first_pass,
        "floor_s": median(times["floor"]),
        "pass_s": median(times["pass"]),
        "median_pair_ratio": median(ratios),
        "raw_pair_ratios": ratios,
        "first_log_s": first_log,
        "log_s": median(times["log"]),
        "log_two_passes_s": median(times["log_two_passes"]),
        "log_ratio": median(log_ratios),
        "log_two_passes_ratio": median(two_pass_ratios),
        "one_pass_compile_count": one_pass.compile_count,
        "format_s": median(formats),
        "bytes_per_log": stored,
        "compile_count": compiled.compile_count,
    }


def bench_faces(epochs, pairs, root):
    import keras

    sys.path.insert(0, os.path.join(REPO, "examples"))
    import faces

    image_size, probe_size = 64, 8
    (x_train, y_train), (x_val, y_val) = faces.load_faces(image_size)
    arms = ("none", "activations", "attributions")

    def run(arm, index):
        keras.utils.clear_session()
        gc.collect()
        keras.utils.set_random_seed(0)
        model = faces.build_model(image_size)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = []
        if arm != "none":
            callbacks.append(faces.activation_logger(
                os.path.join(root, "faces_%s_%d" % (arm, index)), x_val, y_val, probe_size,
                attributions=arm == "attributions", verbose=0))
        seconds, _ = timed(lambda: model.fit(
            x_train, y_train, validation_data=(x_val, y_val), epochs=epochs,
            batch_size=16, verbose=0, callbacks=callbacks))
        return seconds

    for arm in arms:  # warm-up: the first fits in the process pay one-off costs
        run(arm, -1)
    times = {arm: [] for arm in arms}
    added = []
    for p in range(pairs):
        order = arms if p % 2 == 0 else arms[::-1]
        got = {arm: run(arm, p) for arm in order}
        for arm in arms:
            times[arm].append(got[arm])
        added.append((got["attributions"] - got["activations"]) / got["none"])
        log("    faces round %d: %s" % (p + 1, ", ".join("%s %.2f s" % (a, got[a]) for a in arms)))
    out = {arm + "_s": median(times[arm]) for arm in arms}
    out.update(epochs=epochs, pairs=pairs, raw=times,
               attributions_add_of_bare_fit=median(added),
               activations_overhead=median(times["activations"]) / median(times["none"]) - 1,
               attributions_overhead=median(times["attributions"]) / median(times["none"]) - 1)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--calls", type=int, default=3, help="calls per timing")
    parser.add_argument("--faces-epochs", type=int)
    parser.add_argument("--faces-pairs", type=int)
    parser.add_argument("--no-faces", action="store_true")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    import keras

    keras.utils.disable_interactive_logging()
    backend = keras.backend.backend()
    log("tb_actviz attribution benchmark: backend %s, Keras %s, %d CPUs, load %s"
        % (backend, keras.__version__, os.cpu_count(), load_average()))
    results = {"backend": backend, "load_before": load_average()}
    model = transfer_model()
    probe = probe_images()
    log("  VGG16 (nested) + Dense(10), 8 probe images 224x224: floor vs attribution pass")
    results["pass"] = bench_pass(model, probe, repeats, args.calls)
    root = tempfile.mkdtemp(prefix="tb_actviz_bench_attribution_")
    try:
        if not args.no_faces:
            epochs = args.faces_epochs or (6 if args.quick else 15)
            pairs = args.faces_pairs or (2 if args.quick else 4)
            log("  examples/faces.py, %d epochs, %d rounds" % (epochs, pairs))
            results["faces"] = bench_faces(epochs, pairs, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results["load_after"] = load_average()
    report(results)
    print("JSON " + json.dumps(results))


def report(r):
    p = r["pass"]
    ok = p["median_pair_ratio"] <= TARGET_RATIO
    print_table(
        "Attribution pass (%s): Grad-CAM of %s %s + saliency %s, one compiled forward + backward"
        % (r["backend"], p["cam_layer"], "x".join(map(str, p["cam_map"])), "x".join(map(str, p["saliency_map"]))),
        ["", "floor (bare fwd+bwd)", "attribution pass", "ratio (median of pairs)", "target", "first call"],
        [["per log", fmt_s(p["floor_s"]), fmt_s(p["pass_s"]), "%.2fx" % p["median_pair_ratio"],
          "<= %.2fx %s" % (TARGET_RATIO, "met" if ok else "MISSED"),
          "%s / %s" % (fmt_s(p["first_floor_s"]), fmt_s(p["first_pass_s"]))]],
    )
    ok = p["log_ratio"] <= LOG_TARGET_RATIO
    print_table(
        "A log with attributions=True (block1_conv1 + block5_conv3 logged): the training thread's part",
        ["", "attribution pass alone", "log, one pass", "ratio (median of reps)", "target",
         "log, two passes (before)", "ratio"],
        [["per log", fmt_s(p["pass_s"]), fmt_s(p["log_s"]), "%.2fx" % p["log_ratio"],
          "<= %.2fx %s" % (LOG_TARGET_RATIO, "met" if ok else "MISSED"),
          fmt_s(p["log_two_passes_s"]), "%.2fx" % p["log_two_passes_ratio"]]],
    )
    print("formatting both methods off the training thread: %s per log, %d bytes stored; compiles: %d"
          % (fmt_s(p["format_s"]), p["bytes_per_log"], p["compile_count"]))
    if "faces" in r:
        f = r["faces"]
        print_table(
            "examples/faces.py fit, %d epochs (medians of %d rounds)" % (f["epochs"], f["pairs"]),
            ["without tb_actviz", "ActivationLogger, attributions=False", "attributions=True",
             "attributions add (of the bare fit)"],
            [[fmt_s(f["none_s"]), "%s (%+.1f%%)" % (fmt_s(f["activations_s"]), 100 * f["activations_overhead"]),
              "%s (%+.1f%%)" % (fmt_s(f["attributions_s"]), 100 * f["attributions_overhead"]),
              "%+.1f%%" % (100 * f["attributions_add_of_bare_fit"])]],
        )
    print("load average before %s, after %s" % (r["load_before"], r["load_after"]))


if __name__ == "__main__":
    main()
