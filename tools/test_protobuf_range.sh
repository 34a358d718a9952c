#!/usr/bin/env bash
# The plugin side of tb_actviz on the oldest and the newest protobuf runtime it
# supports, each in a small venv beside the main one (no TensorFlow, no Keras):
#
#   .venv-protobuf-oldest  protobuf 5.26.0 (the oldest 5.x; TensorBoard 2.18 and
#                          TensorFlow 2.18 accept it) + TensorBoard 2.18.0
#                          (TensorBoard 2.21 needs protobuf >= 6.31.1)
#   .venv-protobuf-newest  protobuf 7.36.2 (the newest release) + TensorBoard 2.21.0
#
# In each: the unit tests of the stored format that need neither Keras nor
# TensorFlow ($PROTOBUF_TESTS: metadata, format/, summary_v2, the writer's
# encoding pool; the tests that need TensorFlow skip), the plugin and metadata
# round trip under both protobuf
# implementations (upb and pure Python), and a real `tensorboard --load_fast=false`
# serving an event file written with TensorBoard's own TF-free writer: the
# "activations" plugin must be listed and must show the run.
#
# A venv is reused while its pins (and setup.py) are unchanged, so a second run
# only runs the checks. Exits non-zero if anything fails.
#
#   bash tools/test_protobuf_range.sh          # both
#   bash tools/test_protobuf_range.sh oldest   # one
#   bash tools/test_protobuf_range.sh --setup  # only create (or reuse) the venvs
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}

# name | exact pins (the reuse key)
VENVS=(
  "oldest|protobuf==5.26.0 tensorboard==2.18.0 numpy==1.26.4 pillow==13.0.0 pytest==9.2.0 hypothesis==6.170.17"
  "newest|protobuf==7.36.2 tensorboard==2.21.0 numpy==2.4.6 pillow==13.0.0 pytest==9.2.0 hypothesis==6.170.17"
)
SETUP_ONLY=0
if [[ "${1:-}" == "--setup" ]]; then
  SETUP_ONLY=1
  shift
fi
WANTED=("$@")
# Relative to the repository; tests/conftest.py imports neither Keras nor TensorFlow.
PROTOBUF_TESTS=(
  tests/unit/test_metadata.py
  tests/unit/format/test_images.py tests/unit/format/test_blob_layout.py
  tests/unit/format/test_blob_checks.py tests/unit/format/test_pixel_file.py
  tests/unit/format/test_map_encoding.py
  tests/unit/write/test_summary_v2.py tests/unit/write/test_background.py
)

started=$SECONDS
failed=()
summary=()

log() { printf '\n== %s\n' "$*"; }

pip_install() {  # venv dir, pip args; hides only pip's note on an absent local index
  "$1/bin/pip" install -q --disable-pip-version-check "${@:2}" 2>&1 \
    | { grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}

ensure_venv() {  # name pins; creates or reuses the venv, non-zero on failure
  local dir="$REPO/.venv-protobuf-$1" pins=$2 key
  key="$pins | setup.py $(sha256sum setup.py | cut -c1-16) | $("$PYTHON" -V 2>&1)"
  if [[ -x "$dir/bin/python" && -f "$dir/.tb_actviz-key" && "$(cat "$dir/.tb_actviz-key")" == "$key" ]]; then
    echo "reusing $dir"
    return 0
  fi
  echo "creating $dir: $pins"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir" || return 1
  echo '*' > "$dir/.gitignore"  # as Python 3.13's venv does: git ignores the venv
  # shellcheck disable=SC2086
  pip_install "$dir" $pins || return 1
  pip_install "$dir" --no-deps -e "$REPO" || return 1
  echo "$key" > "$dir/.tb_actviz-key"
}

run_checks() {  # name pins; runs every check, returns non-zero if any failed
  local dir="$REPO/.venv-protobuf-$1" pins=$2 py bad=0
  py="$dir/bin/python"

  log "$1: runtime"
  PINS="$pins" "$py" - <<'EOF' || return 1  # the wrong venv: nothing else means anything
import os, sys
from importlib import metadata
from google.protobuf.internal import api_implementation
want = dict(p.split("==") for p in os.environ["PINS"].split())
have = {name: metadata.version(name) for name in want}
print("python %s, protobuf %s (%s), tensorboard %s, numpy %s" % (
    sys.version.split()[0], have["protobuf"], api_implementation.Type(),
    have["tensorboard"], have["numpy"]))
for name in ("tensorflow", "tensorflow-cpu", "keras"):
    try:
        metadata.version(name)
        sys.exit("%s is installed in this venv; it must not be" % name)
    except metadata.PackageNotFoundError:
        pass
wrong = {n: (have[n], v) for n, v in want.items() if have[n] != v}
sys.exit("installed versions differ from the pins: %r" % wrong if wrong else 0)
EOF

  log "$1: pytest ${PROTOBUF_TESTS[*]}"
  (cd "$REPO" && "$py" -m pytest -q -p no:cacheprovider "${PROTOBUF_TESTS[@]}") || bad=1

  local impl
  for impl in upb python; do
    log "$1: plugin import and metadata round trip (PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=$impl)"
    PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=$impl "$py" - <<'EOF' || bad=1
import sys
from google.protobuf.internal import api_implementation
import tb_actviz.activations_plugin  # what TensorBoard's entry point loads
from tb_actviz import metadata, plugin_data_pb2
from tensorboard.compat.proto import summary_pb2
data = plugin_data_pb2.ActivationsPluginData(
    kind=metadata.Kind.LAYER, layer_path="block1/conv", output_shape=[28, 28, 64],
    filter_indices=[0, 5], stat_names=list(metadata.STAT_NAMES))
md = metadata.create_summary_metadata(data, description="d")
md = summary_pb2.SummaryMetadata.FromString(md.SerializeToString())
assert md.plugin_data.plugin_name == "activations"
parsed = metadata.parse_plugin_metadata(md.plugin_data.content)
assert parsed == data and parsed.kind == plugin_data_pb2.ActivationsPluginData.Kind.LAYER, parsed
loaded = [m for m in ("tensorflow", "keras") if m in sys.modules]
assert not loaded, loaded
print("ok (%s)" % api_implementation.Type())
EOF
  done

  log "$1: tensorboard --load_fast=false serves the plugin"
  "$py" - <<'EOF' || bad=1
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tb_actviz import metadata, plugin_data_pb2

logdir = tempfile.mkdtemp(prefix="tb_actviz_protobuf_")
try:
    # A probe tag as the callback writes it: rank-1 string tensor, blob-sequence metadata.
    md = metadata.create_summary_metadata(plugin_data_pb2.ActivationsPluginData(
        kind=metadata.Kind.PROBE, num_images=1, labels=["x"], channels=1))
    value = summary_pb2.Summary.Value(
        tag=metadata.PROBE_TAG, metadata=md,
        tensor=tensor_util.make_tensor_proto(np.array([b"\x89PNG not really"], dtype=object)))
    writer = EventFileWriter(os.path.join(logdir, "run1"))
    writer.add_event(event_pb2.Event(wall_time=time.time(), step=0,
                                     summary=summary_pb2.Summary(value=[value])))
    writer.close()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    out = open(os.path.join(logdir, "tensorboard.log"), "w+")
    proc = subprocess.Popen(
        [exe, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port), "--load_fast=false"],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def get(path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return json.loads(r.read())

    listing = runs = None
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                listing = get("/data/plugins_listing")
                runs = get("/data/plugin/activations/runs")["runs"]
                if runs and runs[0]["probe"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.3)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group this script started
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    out.seek(0)
    log = out.read()[-3000:]
    out.close()
    if not listing or "activations" not in listing:
        sys.exit("tensorboard never listed the activations plugin: %r\n%s" % (listing, log))
    if not runs or runs[0]["run"] != "run1" or not runs[0]["probe"]:
        sys.exit("the plugin never showed run1's probe: %r\n%s" % (runs, log))
    print("ok: plugins_listing has 'activations'; /runs shows %s with its probe (%s)"
          % (runs[0]["run"], metadata.PROBE_TAG))
finally:
    shutil.rmtree(logdir, ignore_errors=True)
EOF
  return "$bad"
}

for entry in "${VENVS[@]}"; do
  name=${entry%%|*}
  pins=${entry#*|}
  if ((${#WANTED[@]})) && [[ ! " ${WANTED[*]} " == *" $name "* ]]; then
    continue
  fi
  log "$name: venv .venv-protobuf-$name"
  if ensure_venv "$name" "$pins" && { ((SETUP_ONLY)) || run_checks "$name" "$pins"; }; then
    summary+=("$( ((SETUP_ONLY)) && echo READY || echo PASS )  $name: $pins")
  else
    summary+=("FAIL  $name: $pins")
    failed+=("$name")
  fi
done

log "summary ($((SECONDS - started)) s)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
