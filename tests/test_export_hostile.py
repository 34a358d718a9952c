"""`tb-actviz export` and `LogReader` against hostile log dirs
(`hostile_logdirs.py`) and hostile arguments: a clear message and exit
status 2, never a traceback, and healthy runs beside hostile ones still
export.

Every CLI case runs the installed console script as a subprocess. Each run
that reads a log dir pays TensorBoard's import of TensorFlow, so a module
fixture starts them all at once (a few at a time) and the tests check their
results.
"""

import concurrent.futures
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import hostile_logdirs  # noqa: E402

from tensorboard.compat.proto import types_pb2  # noqa: E402

from tb_actviz import metadata  # noqa: E402
from tb_actviz.format import blob_layout  # noqa: E402
from tb_actviz.format import images  # noqa: E402
from tb_actviz import reader as tb_reader  # noqa: E402
from tb_actviz.reader import LogReader  # noqa: E402

PREFIX = "tb-actviz export: error: "
HEALTHY = hostile_logdirs.HEALTHY_RUN
# A run named to sort before the healthy one, whose layer "conv" is of a
# newer format: without --run, export must take the healthy run's.
NEWER_CONV_RUN = "aaa_newer_conv/train"
# Layer "conv" at steps 0, 1, 2; step 1's wall time is NaN, so it has no
# pixel file name. (The "huge_steps" case's NaN step is dropped by
# TensorBoard's loader when it follows a larger step.)
NAN_RUN = "nan_wall_time/train"


def _write_newer_conv(root):
    content = hostile_logdirs._content(version=metadata.PROTO_VERSION + 98, path="conv")
    tensor = hostile_logdirs._tensor(types_pb2.DT_STRING, [1], string_val=[b"x"])
    hostile_logdirs._write_events(os.path.join(root, NEWER_CONV_RUN), [
        hostile_logdirs._raw_event(0, metadata.layer_tag("conv"), content, tensor)])


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hostile_export"))
    hostile_logdirs.write(root)
    _write_newer_conv(root)
    start = time.time()
    hostile_logdirs._write_v1_steps(os.path.join(root, NAN_RUN), metadata.layer_tag("conv"), [0, 1, 2],
                                    wall_times=[start, float("nan"), start + 1])
    with open(os.path.join(root, "a_file"), "w") as f:
        f.write("not a log dir")
    os.mkdir(os.path.join(root, "out"))
    os.mkdir(os.path.join(root, "out", "dir.png"))
    return root


def _run_cli(*args):
    script = os.path.join(os.path.dirname(sys.executable), "tb-actviz")
    done = subprocess.run([script, "export", *args], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout, done.stderr


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
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(_run_cli, *args) for key, args in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


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


# LogReader ---------------------------------------------------------------------


def test_reader_skips_tags_it_cannot_read_and_says_why(hostile_root):
    reader = LogReader(hostile_root)
    tags = reader.tags()
    assert metadata.layer_tag("conv") in tags[HEALTHY]
    assert tags["newer_version/train"] == {} and tags["undecodable_metadata/train"] == {}
    skipped = {(s.run, s.tag): s for s in reader.skipped()}
    assert sorted(skipped) == sorted([
        (NEWER_CONV_RUN, metadata.layer_tag("conv")),
        ("newer_version/train", metadata.layer_tag("newer_version")),
        ("undecodable_metadata/train", metadata.layer_tag("undecodable_metadata")),
    ])
    newer = skipped[("newer_version/train", metadata.layer_tag("newer_version"))]
    assert isinstance(newer, tb_reader.SkippedTag) and newer.newer_version == 99
    assert "version 99 is newer" in newer.reason
    run, tag, reason, version = skipped[("undecodable_metadata/train", metadata.layer_tag("undecodable_metadata"))]
    assert "does not parse" in reason and version is None
    with pytest.raises(KeyError, match="cannot be read: activations metadata version 99"):
        reader.layer("newer_version/train", metadata.layer_tag("newer_version"))


def test_reader_refuses_blobs_that_do_not_match_their_metadata(hostile_root):
    reader = LogReader(hostile_root)
    tag = metadata.layer_tag("wrong_summary_size")
    with pytest.raises(tb_reader.UnreadableDataError, match=(
            r"run wrong_summary_size/train, tag actviz/layers/wrong_summary_size, step 0, blob 0 "
            r"\(statistics\): summary: the blob holds 12 bytes; the metadata's 3 filters x 5 summary "
            r"values float32 values make 60")):
        reader.summary("wrong_summary_size/train", tag)
    error = pytest.raises(tb_reader.UnreadableDataError, reader.layer, "pixel_png_bomb/train",
                          metadata.layer_tag("pixel_png_bomb")).value
    assert (error.run, error.tag, error.step, error.blob) == (
        "pixel_png_bomb/train", metadata.layer_tag("pixel_png_bomb"), 0, 1)
    unreadable = []
    series = reader.filter_series(NAN_RUN, metadata.layer_tag("conv"), 0, unreadable=unreadable)
    assert [step for step, _ in series] == [0, 2]
    assert [step for step, _ in unreadable] == [1]
    with pytest.raises(tb_reader.UnreadableDataError, match="step 1: no pixel file name for wall time nan"):
        reader.filter_series(NAN_RUN, metadata.layer_tag("conv"), 0)


def test_decode_strip_checks_the_declared_size_before_decoding():
    info = hostile_logdirs.layer_data()
    with pytest.raises(ValueError, match="declares 12000x12000 pixels, 16x8 expected: not decoded"):
        blob_layout.decode_strip(hostile_logdirs.png_bomb(), info)
    rgb = images.encode_png(np.zeros((8, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="mode RGB, L expected"):
        blob_layout.decode_strip(rgb, info)
    with pytest.raises(ValueError, match="not a PNG that decodes"):
        images.decode_png(images.encode_png(np.zeros((8, 16), np.uint8))[:-30], size=(16, 8))
    info.num_images = 0
    with pytest.raises(ValueError, match="describes no maps"):
        blob_layout.decode_strip(images.encode_png(np.zeros((8, 16), np.uint8)), info)
