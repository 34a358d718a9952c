"""`tb-actviz export` against hostile log dirs
(tests/support/hostile_logdirs.py) and hostile arguments: a clear message
and exit status 2, never a traceback, and healthy runs beside hostile ones
still export. (LogReader on them: tests/unit/test_reader.py.)

A module fixture runs every CLI case once and the tests check the results.
The argument errors run the installed console script as a subprocess each.
The cases that read a log dir run as the console script runs them,
`tb_actviz.export.main`, one after the other in two worker processes
(support/export_cli_batch.py: the exit status, stdout and stderr of each,
any uncaught exception as a traceback on stderr). A process per case paid
TensorBoard's import of TensorFlow once per case: 7 minutes of a 31-minute
run on 2 busy cores.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import hostile_logdirs  # noqa: E402
import paths  # noqa: E402

from tb_actviz import metadata  # noqa: E402
from tb_actviz.reader import LogReader  # noqa: E402

PREFIX = "tb-actviz export: error: "
HEALTHY = hostile_logdirs.HEALTHY_RUN
NEWER_CONV_RUN = hostile_logdirs.NEWER_CONV_RUN
NAN_RUN = hostile_logdirs.NAN_RUN


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hostile_export"))
    hostile_logdirs.write(root)
    hostile_logdirs.write_newer_conv(root)
    hostile_logdirs.write_nan_wall_time_run(root)
    with open(os.path.join(root, "a_file"), "w") as f:
        f.write("not a log dir")
    os.mkdir(os.path.join(root, "out"))
    os.mkdir(os.path.join(root, "out", "dir.png"))
    return root


def _run_cli(*args):
    script = os.path.join(os.path.dirname(sys.executable), "tb-actviz")
    done = subprocess.run([script, "export", *args], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout, done.stderr


def _run_in_workers(cases, workers=2):
    """[(status, stdout, stderr)] of each argument list in `cases`, run by
    `workers` processes of support/export_cli_batch.py at once."""
    batches = [cases[i::workers] for i in range(workers)]
    processes = [subprocess.Popen([sys.executable, paths.script("export_cli_batch.py")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in batches]
    outputs = [p.communicate(json.dumps(batch), timeout=900) for p, batch in zip(processes, batches)]
    results = []
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 0, "export worker failed:\n%s" % err[-5000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    found = [None] * len(cases)
    for i, batch_results in enumerate(results):
        found[i::workers] = [tuple(r) for r in batch_results]
    return found


def _case(view, run, layer, *extra, output="out.png"):
    return (view, "--run", run, "--layer", layer, *extra, "-o", output)


def _hostile(case, view="filters", output="out.png"):
    return _case(view, "%s/train" % case, case, output=output)


# id -> (CLI arguments, with {root} and {out} filled in; the stderr text expected)
ERRORS = {
    # Tags whose metadata cannot be read.
    "newer_version": (_hostile("newer_version"),
                      "layer newer_version of run newer_version/train was written by a newer "
                      "tb_actviz (format version 99; this one reads 1): upgrade tb_actviz"),
    "newer_version_without_run": (("filters", "--layer", "newer_version", "-o", "out.png"),
                                  "layer newer_version of run newer_version/train was written by a "
                                  "newer tb_actviz (format version 99; this one reads 1)"),
    "newer_conv_run": (_case("filters", NEWER_CONV_RUN, "conv"),
                       "layer conv of run %s was written by a newer tb_actviz (format version 99"
                       % NEWER_CONV_RUN),
    "undecodable_metadata": (_hostile("undecodable_metadata"),
                             "layer undecodable_metadata of run undecodable_metadata/train cannot be "
                             "read: activations metadata does not parse (4 bytes)"),
    # Stored data that does not match its metadata.
    "float_tensor": (_hostile("float_tensor"),
                     "run float_tensor/train, tag actviz/layers/float_tensor, step 0, blob 0 "
                     "(statistics): the event's tensor holds float32 values, not blobs"),
    "string_matrix": (_hostile("string_matrix"),
                      "run string_matrix/train, tag actviz/layers/string_matrix, step 0, blob "),
    "scalar_string": (_hostile("scalar_string"),
                      "run scalar_string/train, tag actviz/layers/scalar_string, step 0, blob 0"),
    "no_blobs": (_hostile("no_blobs"), "run no_blobs/train, tag actviz/layers/no_blobs, step 0: "),
    "bad_png": (_hostile("bad_png"),
                "run bad_png/train, tag actviz/layers/bad_png, step 0, blob 1 (strip of logged "
                "filter 0): not a PNG"),
    "png_bomb": (_hostile("png_bomb"),
                 "run png_bomb/train, tag actviz/layers/png_bomb, step 0, blob 1 (strip of logged "
                 "filter 0): the PNG declares 12000x12000 pixels, 16x8 expected: not decoded"),
    "png_bomb_evolution": (_hostile("png_bomb", "evolution", "out.gif"),
                           "no step of layer png_bomb of run png_bomb/train can be read (1 tried)"),
    # Longer than a 16x8 strip's PNG can be: refused before it is read.
    "pixel_png_bomb": (_hostile("pixel_png_bomb"),
                       "run pixel_png_bomb/train, tag actviz/layers/pixel_png_bomb, step 0, blob 1 "
                       "(strip of logged filter 0): pixel file "),
    "pixel_png_bomb_says_what": (_hostile("pixel_png_bomb"),
                                 "140051 bytes, a PNG declaring 12000x12000, where the tag's metadata "
                                 "allows at most 65808: not read"),
    "wrong_stats_size": (_hostile("wrong_stats_size"),
                         "run wrong_stats_size/train, tag actviz/layers/wrong_stats_size, step 0, "
                         "blob 0 (statistics): the blob holds 136 bytes; the metadata's 3 filters x "
                         "2 images x 6 statistics float32 values make 144"),
    "pixel_file_garbage": (_hostile("pixel_file_garbage"),
                           "run pixel_file_garbage/train, tag actviz/layers/pixel_file_garbage, "
                           "step 0: Not found: pixel file "),
    # Pixel files that are not what they claim, and a probe PNG bomb (second hostile round).
    "pixel_fifo": (_case("filters", "pixel_fifo/train", "pixel_fifo", "--step", "0"),
                   "run pixel_fifo/train, tag actviz/layers/pixel_fifo, step 0: Not found: pixel file "),
    "pixel_fifo_says_what": (_case("filters", "pixel_fifo/train", "pixel_fifo", "--step", "0"),
                             "cannot be read: it is a FIFO, not a regular file"),
    "pixel_deep_header": (_case("filters", "pixel_deep_header/train", "pixel_deep_header", "--step", "0"),
                          "bad pixel file header: nested too deeply to be one"),
    "pixel_huge_claim": (_case("filters", "pixel_huge_claim/train", "pixel_huge_claim", "--step", "0"),
                         "run pixel_huge_claim/train, tag actviz/layers/pixel_huge_claim, step 0, blob 1 "
                         "(strip of logged filter 0): pixel file "),
    "pixel_huge_claim_says_what": (_case("filters", "pixel_huge_claim/train", "pixel_huge_claim", "--step", "0"),
                                   "1073741824 bytes, a PNG declaring 16x8, where the tag's metadata allows "
                                   "at most 65808: not read"),
    "pixel_newer_layout": (_case("filters", "pixel_newer_layout/train", "pixel_newer_layout", "--step", "0"),
                           "written by a newer tb_actviz (pixel file layout 02; this one reads 01): "
                           "upgrade tb_actviz"),
    "probe_png_bomb": (("attention", "--run", "probe_png_bomb/train", "--method", "saliency", "-o", "out.png"),
                       "run probe_png_bomb/train, tag actviz/probe, step 0, blob 1 (probe image 1): the PNG "
                       "declares 12000x12000 pixels, at most 4096 a side expected: not decoded"),
    # Arguments that do not fit the log dir.
    "step_99": (_case("filters", HEALTHY, "conv", "--step", "99"),
                "layer conv of run healthy/train has no step 99; logged steps: 0, 1, 2\n"),
    "image_99": (_case("filters", HEALTHY, "conv", "--image", "99"),
                 "--image 99: layer conv of run healthy/train has 2 probe images (0 to 1)"),
    "image_99_evolution": (_case("evolution", HEALTHY, "conv", "--image", "99", output="out.gif"),
                           "--image 99: layer conv of run healthy/train has 2 probe images"),
    "filter_99": (_case("images", HEALTHY, "conv", "--filter", "99"),
                  "--filter 99 was not logged; logged filters: 0 to 2"),
    "unknown_run": (_case("filters", "nope/train", "conv"), "no run 'nope/train' in the log dir; runs: "),
    "unknown_layer": (_case("filters", HEALTHY, "nope"),
                      "no layer 'nope' in run healthy/train; logged layers: conv"),
    "logdir_is_a_file": (("filters", "--logdir", "{root}/a_file", "--layer", "conv", "-o", "out.png"),
                         "--logdir {root}/a_file is a file, not a directory"),
    "logdir_missing": (("filters", "--logdir", "{root}/missing", "--layer", "conv", "-o", "out.png"),
                       "--logdir {root}/missing: no such directory"),
    "output_folder_missing": (_case("filters", HEALTHY, "conv", output="{out}/missing/f.png"),
                              "-o {out}/missing/f.png: {out}/missing does not exist"),
    "output_is_a_directory": (_case("filters", HEALTHY, "conv", output="{out}/"),
                              "-o {out}/ is a directory; give a file name"),
    "output_is_a_directory_named_png": (_case("filters", HEALTHY, "conv", output="{out}/dir.png"),
                                        "-o {out}/dir.png is a directory"),
    "output_unknown_extension": (_case("filters", HEALTHY, "conv", output="{out}/f.foo"),
                                 "-o {out}/f.foo: cannot write an image with extension '.foo'; give "
                                 "one of the extensions "),
    "output_evolution_as_jpeg": (_case("evolution", HEALTHY, "conv", output="{out}/f.jpg"),
                                 "cannot write an animation (one frame per step) with extension '.jpg'"),
    # As root, the permission bits of a folder do not stop a write: /sys does.
    "output_read_only": (_case("filters", HEALTHY, "conv", output="/sys/tb-actviz-test.png"),
                         "/sys/tb-actviz-test.png: [Errno 13] Permission denied"),
}

# Refused by argparse (its own "usage: ..." then "tb-actviz export: error: argument ...").
ARGUMENT_ERRORS = {
    "image_minus_1": (("--image", "-1"), "argument --image: must be at least 0, got -1"),
    "count_0": (("--count", "0"), "argument --count: must be at least 1, got 0"),
    "count_minus_3": (("--count", "-3"), "argument --count: must be at least 1, got -3"),
    "columns_0": (("--columns", "0"), "argument --columns: must be at least 1, got 0"),
    "columns_minus_2": (("--columns", "-2"), "argument --columns: must be at least 1, got -2"),
    "levels_minus_1": (("--levels", "-1"), "argument --levels: must be at least 0, got -1"),
    "frame_ms_0": (("--frame-ms", "0"), "argument --frame-ms: must be at least 1, got 0"),
}

SUCCESSES = {
    "healthy_filters": _case("filters", HEALTHY, "conv", output="{out}/healthy.png"),
    "healthy_images": _case("images", HEALTHY, "conv", "--filter", "2", output="{out}/images.png"),
    "healthy_evolution": _case("evolution", HEALTHY, "conv", output="{out}/healthy.gif"),
    # Without --run: the newer-format "conv" of a run that sorts first is
    # passed over for the healthy one.
    "healthy_without_run": ("filters", "--layer", "conv", "-o", "{out}/without_run.png"),
    # A step whose pixel file is a FIFO or damaged is left out, with a warning.
    "pixel_fifo_evolution": _case("evolution", "pixel_fifo/train", "pixel_fifo", output="{out}/fifo.gif"),
    "pixel_huge_claim_evolution": _case("evolution", "pixel_huge_claim/train", "pixel_huge_claim",
                                        output="{out}/huge.gif"),
    # One step (NaN wall time: no pixel file name) left out, with a warning.
    "nan_wall_time_evolution": _case("evolution", NAN_RUN, "conv", output="{out}/nan.gif"),
}


def _fill(args, root):
    out = os.path.join(root, "out")
    filled = [a.format(root=root, out=out) for a in args]
    if "--logdir" not in filled:
        filled[1:1] = ["--logdir", root]
    if filled[-1] in ("out.png", "out.gif"):
        filled[-1] = os.path.join(out, filled[-1])
    return filled


@pytest.fixture(scope="module")
def results(hostile_root):
    jobs = {("error", k): _fill(args, hostile_root) for k, (args, _) in ERRORS.items()}
    jobs.update({("argument", k): _fill(_case("filters", HEALTHY, "conv", *args), hostile_root)
                 for k, (args, _) in ARGUMENT_ERRORS.items()})
    jobs.update({("success", k): _fill(args, hostile_root) for k, args in SUCCESSES.items()})
    found = {key: _run_cli(*args) for key, args in jobs.items() if key[0] == "argument"}
    reading = [key for key in jobs if key[0] != "argument"]
    found.update(zip(reading, _run_in_workers([jobs[key] for key in reading])))
    return found


def _assert_clean(code, stderr):
    assert "Traceback" not in stderr, stderr
    assert code == 2, (code, stderr)


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_hostile_input_is_a_message_not_a_traceback(results, hostile_root, case):
    code, stdout, stderr = results[("error", case)]
    _assert_clean(code, stderr)
    expected = ERRORS[case][1].format(root=hostile_root, out=os.path.join(hostile_root, "out"))
    lines = [line for line in stderr.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, stderr
    assert expected in stderr[stderr.index(PREFIX):], stderr
    assert not stdout


@pytest.mark.parametrize("case", sorted(ARGUMENT_ERRORS))
def test_bad_numbers_are_argument_errors(results, case):
    code, _, stderr = results[("argument", case)]
    _assert_clean(code, stderr)
    assert stderr.startswith("usage: tb-actviz export"), stderr
    assert PREFIX + ARGUMENT_ERRORS[case][1] in stderr, stderr


def test_nothing_is_written_on_errors(results, hostile_root):
    assert sorted(os.listdir(os.path.join(hostile_root, "out"))) == sorted(
        ["dir.png", "healthy.png", "images.png", "healthy.gif", "without_run.png", "nan.gif", "fifo.gif",
         "huge.gif"])


def test_healthy_runs_beside_hostile_ones_export(results, hostile_root):
    out = os.path.join(hostile_root, "out")
    for case in ("healthy_filters", "healthy_images", "healthy_evolution", "healthy_without_run"):
        code, stdout, stderr = results[("success", case)]
        assert code == 0, stderr
        assert "(%s, actviz/layers/conv)" % HEALTHY in stdout, stdout
    reader = LogReader(hostile_root)
    snapshot = reader.layer(HEALTHY, metadata.layer_tag("conv"))
    figure = np.asarray(Image.open(os.path.join(out, "healthy.png")).convert("RGB"))
    assert figure.shape[0] > hostile_logdirs.SIZE and figure.shape[1] > 3 * hostile_logdirs.SIZE
    assert snapshot.quantized.shape == (3, 2, 8, 8)
    assert Image.open(os.path.join(out, "healthy.gif")).n_frames == 3


def test_an_unreadable_step_is_left_out_of_the_evolution_with_a_warning(results, hostile_root):
    code, stdout, stderr = results[("success", "nan_wall_time_evolution")]
    assert code == 0, stderr
    assert ("tb-actviz export: warning: step 1 left out: run %s, tag actviz/layers/conv, step 1: "
            "no pixel file name for wall time nan" % NAN_RUN) in stderr, stderr
    assert Image.open(os.path.join(hostile_root, "out", "nan.gif")).n_frames == 2


@pytest.mark.parametrize("case, problem", [("pixel_fifo", "it is a FIFO, not a regular file"),
                                           ("pixel_huge_claim", "allows at most 65808: not read")])
def test_a_step_whose_pixel_file_is_not_one_is_left_out_of_the_evolution(results, hostile_root, case, problem):
    code, _, stderr = results[("success", "%s_evolution" % case)]
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "step 0 left out: " in warnings[0] and case in warnings[0], stderr
    assert problem in warnings[0], stderr
    name = {"pixel_fifo": "fifo.gif", "pixel_huge_claim": "huge.gif"}[case]
    assert Image.open(os.path.join(hostile_root, "out", name)).n_frames == 1
