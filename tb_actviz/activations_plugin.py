"""The TensorBoard "Activations" plugin: serves logged feature maps to the tab.

Reads only through `context.data_provider`, so it works with the Rust data
server (`--load_fast=true`) and the Python loader alike, and needs neither
TensorFlow nor Keras. Routes are documented in docs/http_api.md.
"""

import collections
import concurrent.futures
import functools
import math
import os
import re
import struct
import threading
import typing

from werkzeug import security
from werkzeug import wrappers

from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.backend.event_processing import data_provider
from tensorboard.data import provider
from tensorboard.plugins import base_plugin

from tb_actviz import event_blobs
from tb_actviz import metadata
from tb_actviz import pixel_store
from tb_actviz import restarts
from tb_actviz.format import blob_checks

# Steps kept per tag when --samples_per_plugin does not say: every epoch of a
# long run (TensorBoard's own default for unknown blob plugins is 10).
DEFAULT_SAMPLES = 1000

BLOB_CACHE_SECONDS = 365 * 24 * 3600
MAX_BLOBS_PER_REQUEST = 1024
MAX_INDEX_LIST_CHARS = 8192
# The largest step a browser's numbers hold exactly (Number.MAX_SAFE_INTEGER).
MAX_ADDRESSABLE_STEP = 2**53 - 1
# Each read from the Rust data server is a gRPC call of about 45 ms on the
# measured machines, mostly waiting: blobs of one request are read in parallel.
BLOB_READ_THREADS = 16
# Step lists kept between requests: a tab shows one layer at a time, two when
# comparing (each list holds a key per blob: ~4 MB at 300 steps, Python loader).
CACHED_SEQUENCES = 4

_STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _frontend_dir():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "frontend")


class _BadRequest(Exception):
    pass


def _json_error(request, code, message):
    return http_util.Respond(request, {"error": message}, "application/json", code=code)


def _route(handler):
    """Wraps a route: JSON errors with 400/404, never a traceback."""

    @wrappers.Request.application
    @functools.wraps(handler)
    def wrapped(self, request):
        try:
            return handler(self, request)
        except _BadRequest as e:
            return _json_error(request, 400, str(e))
        except errors.NotFoundError as e:
            return _json_error(request, 404, str(e) or "not found")
        except errors.InvalidArgumentError as e:
            return _json_error(request, 400, str(e))

    return wrapped


def _arg(request, name):
    value = request.args.get(name)
    if value is None or value == "":
        raise _BadRequest("missing query parameter %r" % name)
    return value


def _int_arg(request, name, minimum=None):
    value = _arg(request, name)
    if not re.fullmatch(r"-?[0-9]{1,18}", value):
        raise _BadRequest("query parameter %r must be an integer, got %r" % (name, value))
    number = int(value)
    if minimum is not None and number < minimum:
        raise _BadRequest("query parameter %r must be >= %d" % (name, minimum))
    return number


def _float_arg(request, name):
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise _BadRequest("query parameter %r must be a number, got %r" % (name, value))
    if number != number:
        raise _BadRequest("query parameter %r must not be NaN" % name)
    return number


def parse_index_list(text):
    """'0,3,5-9' -> [0, 3, 5, 6, 7, 8, 9]; an index given twice is kept once
    (where it first appears)."""
    if len(text) > MAX_INDEX_LIST_CHARS:
        raise _BadRequest("indices: at most %d characters" % MAX_INDEX_LIST_CHARS)
    indices = {}
    for part in text.split(","):
        match = re.fullmatch(r"([0-9]{1,6})(?:-([0-9]{1,6}))?", part.strip())
        if not match:
            raise _BadRequest("indices must look like '1-64' or '0,3,5-9', got %r" % text)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise _BadRequest("index range %r is reversed" % part)
        if last - first + 1 > MAX_BLOBS_PER_REQUEST:
            raise _BadRequest("at most %d blobs per request" % MAX_BLOBS_PER_REQUEST)
        indices.update(dict.fromkeys(range(first, last + 1)))
        if len(indices) > MAX_BLOBS_PER_REQUEST:
            raise _BadRequest("at most %d blobs per request" % MAX_BLOBS_PER_REQUEST)
    return list(indices)


def _identity_json(tag, md):
    """What every layer-like tag says about its layer."""
    return {
        "tag": tag,
        "path": md.layer_path,
        "index": md.layer_index,
        "class": md.layer_class,
        "filterIndices": list(md.filter_indices),
    }


def _layer_json(tag, md):
    return dict(
        _identity_json(tag, md),
        outputShape=[None if d < 0 else d for d in md.output_shape],
        mapKind=md.map_kind,
        numImages=md.num_images,
        mapHeight=md.map_height,
        mapWidth=md.map_width,
        sourceHeight=md.source_height,
        sourceWidth=md.source_width,
        downsampleFactor=md.downsample_factor,
        statNames=list(md.stat_names),
        summaryNames=list(md.summary_names) if metadata.pixels_in_plugin_files(md) else [],
        stepUnit=md.step_unit,
        leadingTokens=md.leading_tokens,
    )


def _kernels_json(tag, md):
    return dict(
        _identity_json(tag, md),
        numFilters=len(md.filter_indices),
        kernelHeight=md.map_height,
        kernelWidth=md.map_width,
        channels=md.channels,
    )


def _attribution_json(tag, md):
    return {
        "tag": tag,
        "method": md.attribution_method,
        "layerPath": md.layer_path,
        "layerClass": md.layer_class,
        "numImages": md.num_images,
        "mapHeight": md.map_height,
        "mapWidth": md.map_width,
        "sourceHeight": md.source_height,
        "sourceWidth": md.source_width,
        "downsampleFactor": md.downsample_factor,
        "summaryNames": list(md.summary_names),
        "stepUnit": md.step_unit,
        "target": md.attribution_target,
        "classNames": list(md.class_names),
        "probability": md.probability,
    }


def _probe_json(tag, md):
    return {
        "tag": tag,
        "numImages": md.num_images,
        "channels": md.channels,
        "labels": list(md.labels),
    }


def _tag_request(request):
    """(context, experiment, run, tag) of a request about one tag."""
    return (
        plugin_util.context(request.environ),
        plugin_util.experiment_id(request.environ),
        _arg(request, "run"),
        _arg(request, "tag"),
    )


def _unaddressable(datum):
    """Why the tab cannot address a step (None if it can)."""
    if datum.step < 0:
        return "negative step"
    if datum.step > MAX_ADDRESSABLE_STEP:
        return "step above 2**53 - 1, the largest a browser's numbers hold exactly"
    if not math.isfinite(datum.wall_time):
        return "wall time %r is not a finite number" % datum.wall_time
    return None


def _check_blob(md, index, data, run, tag, step, summary=False):
    try:
        blob_checks.check(md, index, data, summary=summary)
    except ValueError as e:
        raise errors.NotFoundError(
            "blob %d of step %d of tag %r (run %r) is damaged: %s"
            % (index, step, tag, run, e)
        ) from None


def _unique_paths(layers):
    """Gives layer JSONs that share a `path` (two tags of one layer) distinct
    ones: the first keeps it, the others get " [tag]" after it; `layerPath`
    keeps the stored path."""
    seen = set()
    for layer in layers:
        layer["layerPath"] = layer["path"]
        if layer["path"] in seen:
            layer["path"] = "%s [%s]" % (layer["path"], layer["tag"])
        seen.add(layer["path"])
    return layers


def _series_response(request, sequence, blobs):
    """The framing of /series and /summaries: (step, wall time, length, bytes) per step."""
    parts = []
    for datum, data in zip(sequence, blobs):
        parts.append(struct.pack("<qdI", datum.step, datum.wall_time, len(data)))
        parts.append(data)
    return http_util.Respond(request, b"".join(parts), "application/octet-stream")


class _Sequence(typing.NamedTuple):
    """A tag's metadata and steps as served: `steps`, the sorted data a
    browser can address; `skipped`, (datum, reason) of the others; `hidden`,
    the data of an earlier training that a restart replaced
    (`restarts.latest_training`)."""

    metadata: object
    steps: list
    skipped: list
    hidden: list


class _SequenceCache:
    """The last few tags' step lists, each valid while its time series'
    (max step, max wall time) is unchanged.

    Listing a time series reads no blob keys, while reading its sequence
    builds a key for every blob of every step: ~90 ms for 300 steps with the
    Python loader, on every /steps and /blob request without this cache.
    """

    def __init__(self, size):
        self._size = size
        self._entries = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, version, load):
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                return entry[1]
        value = load()
        with self._lock:
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value


class ActivationsPlugin(base_plugin.TBPlugin):
    """Serves the Activations tab and its data."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._data_provider = context.data_provider
        multiplexer = getattr(context, "multiplexer", None)  # the Python loader's only
        if multiplexer is not None and isinstance(context.data_provider, data_provider.MultiplexerDataProvider):
            # After a restart it shows the earlier training; the Rust data server the later one.
            self._data_provider = restarts.LatestTrainingProvider(context.data_provider, multiplexer)
        self._downsample_to = (context.sampling_hints or {}).get(
            self.plugin_name, DEFAULT_SAMPLES
        ) or 10**9
        self._frontend_dir = _frontend_dir()
        self._blob_readers = concurrent.futures.ThreadPoolExecutor(
            BLOB_READ_THREADS, thread_name_prefix="tb_actviz_blob_reader"
        )
        self._sequences = _SequenceCache(CACHED_SEQUENCES)
        flags = context.flags
        self._pixels = pixel_store.PixelStore(pixel_store.RunLocator(
            logdir=getattr(flags, "logdir", None) or context.logdir,
            logdir_spec=getattr(flags, "logdir_spec", None),
        ))

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index_js,
            "/static/*": self._serve_static,
            "/static/": self._serve_static,  # "/static/*" needs a name after the slash
            "/static": self._serve_static,
            "/runs": self._serve_runs,
            "/steps": self._serve_steps,
            "/blob": self._serve_blob,
            "/blobs": self._serve_blobs,
            "/series": self._serve_series,
            "/summaries": self._serve_summaries,
        }

    def is_active(self):
        return False  # TensorBoard's `list_plugins` from the data provider suffices

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="Activations"
        )

    # Data access ----------------------------------------------------------

    def _metadata_index(self, ctx, experiment):
        """({run: {tag: plugin data}}, [(run, tag, error)] of the tags whose
        metadata cannot be read: damaged, or of a newer tb_actviz)."""
        mapping = self._data_provider.list_blob_sequences(
            ctx, experiment_id=experiment, plugin_name=self.plugin_name
        )
        index, unreadable = {}, []
        for run, tags in mapping.items():
            for tag, series in tags.items():
                try:
                    md = metadata.parse_plugin_metadata(series.plugin_content)
                except (ValueError, TypeError) as e:
                    unreadable.append((run, tag, e))
                    continue
                index.setdefault(run, {})[tag] = md
        return index, unreadable

    def _read_sequence(self, ctx, experiment, run, tag):
        """The tag's metadata, its steps a browser can address (sorted
        `BlobSequenceDatum`s) and the others, as (datum, reason)."""
        run_tag_filter = provider.RunTagFilter(runs=[run], tags=[tag])
        series = self._data_provider.list_blob_sequences(
            ctx,
            experiment_id=experiment,
            plugin_name=self.plugin_name,
            run_tag_filter=run_tag_filter,
        ).get(run, {}).get(tag)
        if series is None:
            raise errors.NotFoundError("no activations for run %r, tag %r" % (run, tag))

        def load():
            try:
                md = metadata.parse_plugin_metadata(series.plugin_content)
            except (ValueError, TypeError) as e:
                raise errors.NotFoundError("tag %r of run %r: %s" % (tag, run, e))
            result = self._data_provider.read_blob_sequences(
                ctx,
                experiment_id=experiment,
                plugin_name=self.plugin_name,
                downsample=self._downsample_to,
                run_tag_filter=run_tag_filter,
            )
            data, hidden = restarts.latest_training(result.get(run, {}).get(tag) or [])
            hidden = [(d.step, d.wall_time) for d in hidden]
            if isinstance(self._data_provider, restarts.LatestTrainingProvider):
                hidden = self._data_provider.hidden(run, tag)
            steps, skipped = [], []
            for datum in data:
                reason = _unaddressable(datum)
                if reason:
                    skipped.append((datum, reason))
                else:
                    steps.append(datum)
            return _Sequence(md, steps, skipped, hidden)

        version = (series.max_step, series.max_wall_time, series.max_length)
        return self._sequences.get((experiment, run, tag), version, load)

    def _datum_at(self, ctx, experiment, request):
        """(run, tag, md, datum) of the step a request names."""
        run, tag = _arg(request, "run"), _arg(request, "tag")
        step = _int_arg(request, "step", minimum=0)
        wall_time = _float_arg(request, "wall_time")
        md, sequence, _, _ = self._read_sequence(ctx, experiment, run, tag)
        for datum in sequence:
            if datum.step == step:
                if wall_time is not None and datum.wall_time != wall_time:
                    raise errors.NotFoundError(
                        "step %d was rewritten (wall time %r, asked for %r)"
                        % (step, datum.wall_time, wall_time)
                    )
                return run, tag, md, datum
        raise errors.NotFoundError("no step %d for run %r, tag %r" % (step, run, tag))

    def _read_blobs(self, ctx, at, indices):
        """The bytes of blobs `indices` of one step (`_datum_at`'s result):
        from the plugin's own file for version-1 layers, else from the data
        provider, read in parallel; each checked against the tag's metadata.

        Raises:
          errors.NotFoundError: a blob is missing, or not what the metadata
            says it is (the message names the run, tag, step and blob).
        """
        run, tag, md, datum = at
        if metadata.pixels_in_plugin_files(md):
            try:
                blobs = self._pixels.read(run, tag, md, datum.step, datum.wall_time, indices)
            except pixel_store.DamagedBlobError as e:
                raise errors.NotFoundError("blob %d of step %d of tag %r (run %r) is damaged: %s"
                                           % (e.index, datum.step, tag, run, e.details)) from None
        else:
            for index in indices:
                if index >= len(datum.values):
                    raise errors.NotFoundError(
                        "blob index %d out of range (step %d has %d)"
                        % (index, datum.step, len(datum.values))
                    )
            keys = [datum.values[index].blob_key for index in indices]
            blobs = self._read_keys(ctx, keys, lambda k: (run, tag, datum.step, indices[k]))
        for index, data in zip(indices, blobs):
            _check_blob(md, index, data, run, tag, datum.step)
        return blobs

    def _read_keys(self, ctx, keys, where, unreadable_as_none=False, missing_as_none=False):
        """Blobs of the data provider, read in parallel; `where(k)` -> (run,
        tag, step, index) of key k, for the error of a blob TensorBoard cannot
        give (or None in its place, with `unreadable_as_none`; with
        `missing_as_none`, None only for a blob TensorBoard no longer has:
        its step was dropped since it was listed, as when a run restarts)."""
        read = functools.partial(self._data_provider.read_blob, ctx)

        def read_one(k):
            try:
                return read(blob_key=keys[k])
            except errors.NotFoundError:
                if unreadable_as_none or missing_as_none:
                    return None
                raise
            except errors.InvalidArgumentError:
                run, tag, step, index = where(k)
                if not (event_blobs.needs_escaping(run) or event_blobs.needs_escaping(tag)):
                    raise
                try:
                    return self._read_event_blob(run, tag, step, index)
                except errors.NotFoundError:
                    if unreadable_as_none:
                        return None
                    raise
            except errors.PublicError:
                raise
            # What TensorBoard's Python loader raises for a tensor that is not
            # a rank-1 string tensor (IndexError, TypeError, ValueError).
            except (IndexError, TypeError, ValueError, KeyError) as e:
                if unreadable_as_none:
                    return None
                run, tag, step, index = where(k)
                raise errors.NotFoundError(
                    "blob %d of step %d of tag %r (run %r) cannot be read: %s: %s "
                    "(the tag's tensor is not a list of blobs)"
                    % (index, step, tag, run, type(e).__name__, e)
                ) from None

        return list(self._blob_readers.map(read_one, range(len(keys))))

    def _read_event_blob(self, run, tag, step, index):
        """A blob the Rust data server refuses to give (the run or tag has a
        character JSON escapes: its blob key does not parse there), read from
        the run's event files (`event_blobs`)."""
        run_dir = self._pixels.run_dir(
            run, "TensorBoard's data server cannot give blob %d of step %d of tag %r (the "
            "name has a character JSON escapes) and it is read from that directory's event "
            "files" % (index, step, tag))
        return event_blobs.read(run_dir, tag, step, index, run=run)

    # Routes ------------------------------------------------------------------

    @_route
    def _serve_runs(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        index, unreadable = self._metadata_index(ctx, experiment)
        runs = []
        for run, tags in sorted(index.items()):
            layers = [
                _layer_json(tag, md)
                for tag, md in tags.items()
                if md.kind == metadata.Kind.LAYER
            ]
            layers.sort(key=lambda layer: (layer["index"], layer["path"], layer["tag"]))
            probes = sorted(
                (_probe_json(tag, md) for tag, md in tags.items() if md.kind == metadata.Kind.PROBE),
                key=lambda probe: probe["tag"],
            )
            kernels = sorted(
                (
                    _kernels_json(tag, md)
                    for tag, md in tags.items()
                    if md.kind == metadata.Kind.KERNELS
                ),
                key=lambda k: (k["index"], k["path"], k["tag"]),
            )
            attributions = sorted(
                (
                    _attribution_json(tag, md)
                    for tag, md in tags.items()
                    if md.kind == metadata.Kind.ATTRIBUTION
                ),
                key=lambda a: a["tag"],
            )
            runs.append(
                {
                    "run": run,
                    "probe": probes[0] if probes else None,
                    "layers": _unique_paths(layers),
                    "kernels": _unique_paths(kernels),
                    "attributions": attributions,
                }
            )
        skipped = [
            {
                "run": run,
                "tag": tag,
                "reason": str(error),
                "newerVersion": getattr(error, "version", None),
            }
            for run, tag, error in sorted(unreadable, key=lambda entry: entry[:2])
        ]
        return http_util.Respond(
            request, {"runs": runs, "unreadable": skipped}, "application/json"
        )

    @_route
    def _serve_steps(self, request):
        ctx, experiment, run, tag = _tag_request(request)
        _, sequence, skipped, hidden = self._read_sequence(ctx, experiment, run, tag)
        steps = [{"step": d.step, "wallTime": d.wall_time} for d in sequence]
        # A string: a JSON number would not hold such steps exactly.
        skipped = [{"step": str(d.step), "reason": reason} for d, reason in skipped]
        hidden = [{"step": str(step), "wallTime": wall_time} for step, wall_time in hidden]
        return http_util.Respond(
            request, {"steps": steps, "skipped": skipped, "hidden": hidden}, "application/json"
        )

    def _blob_response(self, request, body, content_type):
        cached = request.args.get("wall_time") not in (None, "")
        return http_util.Respond(
            request,
            body,
            content_type,
            expires=BLOB_CACHE_SECONDS if cached else 0,
        )

    @_route
    def _serve_blob(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        index = _int_arg(request, "index", minimum=0)
        at = self._datum_at(ctx, experiment, request)
        (data,) = self._read_blobs(ctx, at, [index])
        content_type = "image/png" if data[:4] == b"\x89PNG" else "application/octet-stream"
        return self._blob_response(request, data, content_type)

    @_route
    def _serve_blobs(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        indices = parse_index_list(_arg(request, "indices"))
        at = self._datum_at(ctx, experiment, request)
        parts = []
        for data in self._read_blobs(ctx, at, indices):
            parts.append(struct.pack("<I", len(data)))
            parts.append(data)
        return self._blob_response(request, b"".join(parts), "application/octet-stream")

    @_route
    def _serve_series(self, request):
        """Blob `index` at every step that has it; a step whose blob is missing
        or damaged is left out (the others still show)."""
        ctx, experiment, run, tag = _tag_request(request)
        index = _int_arg(request, "index", minimum=0)
        md, sequence, _, _ = self._read_sequence(ctx, experiment, run, tag)
        try:
            blob_checks.expected(md, index)
        except ValueError as e:
            raise errors.NotFoundError("tag %r of run %r: %s" % (tag, run, e))

        if metadata.pixels_in_plugin_files(md):
            def read(datum):
                try:
                    return self._pixels.read(run, tag, md, datum.step, datum.wall_time, [index])[0]
                except errors.NotFoundError:
                    return None  # that step's file is missing or damaged

            blobs = list(self._blob_readers.map(read, sequence))
        else:
            sequence = [d for d in sequence if index < len(d.values)]
            blobs = self._read_keys(
                ctx,
                [d.values[index].blob_key for d in sequence],
                lambda k: (run, tag, sequence[k].step, index),
                unreadable_as_none=True,
            )
        kept = []
        for datum, data in zip(sequence, blobs):
            if data is not None and blob_checks.is_valid(md, index, data):
                kept.append((datum, data))
        return _series_response(request, [d for d, _ in kept], [data for _, data in kept])

    @_route
    def _serve_summaries(self, request):
        ctx, experiment, run, tag = _tag_request(request)
        md, sequence, _, _ = self._read_sequence(ctx, experiment, run, tag)
        if not metadata.pixels_in_plugin_files(md):
            raise _BadRequest(
                "tag %r of run %r has no summaries (format version %d, or not a layer): "
                "its statistics are blob 0 of /series" % (tag, run, md.version)
            )
        for datum in sequence:
            if len(datum.values) != 1:
                raise errors.NotFoundError(
                    "step %d of tag %r (run %r) holds %d blobs where a layer event holds "
                    "one, its summary" % (datum.step, tag, run, len(datum.values))
                )
        # A step TensorBoard dropped between listing and reading (a run that
        # restarts) is left out; the tab's next poll lists the new ones.
        blobs = self._read_keys(
            ctx, [d.values[0].blob_key for d in sequence], lambda k: (run, tag, sequence[k].step, 0),
            missing_as_none=True,
        )
        kept = [(d, data) for d, data in zip(sequence, blobs) if data is not None]
        for datum, data in kept:
            _check_blob(md, 0, data, run, tag, datum.step, summary=True)
        return _series_response(request, [d for d, _ in kept], [data for _, data in kept])

    # Static files --------------------------------------------------------------

    def _static_response(self, request, relative_path):
        if "\\" in relative_path or "\x00" in relative_path:
            raise errors.NotFoundError("no such file")
        path = security.safe_join(self._frontend_dir, relative_path)
        content_type = _STATIC_TYPES.get(os.path.splitext(relative_path)[1])
        if path is None or content_type is None or not os.path.isfile(path):
            raise errors.NotFoundError("no such file")
        with open(path, "rb") as f:
            body = f.read()
        return http_util.Respond(request, body, content_type)

    @_route
    def _serve_index_js(self, request):
        return self._static_response(request, "index.js")

    @_route
    def _serve_static(self, request):
        prefix = "/static/"
        path = request.path
        position = path.find(prefix)
        if position < 0:
            raise errors.NotFoundError("no such file")
        return self._static_response(request, path[position + len(prefix):])


class ActivationsLoader(base_plugin.TBLoader):
    """Loads the plugin and gives it a sample count fit for training runs.

    TensorBoard keeps 10 steps per tag of a blob plugin it does not know; this
    raises the default to `DEFAULT_SAMPLES` unless `--samples_per_plugin` names
    `activations` itself.
    """

    def fix_flags(self, flags):
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, dict):
            samples.setdefault(metadata.PLUGIN_NAME, DEFAULT_SAMPLES)
        # ActivationLogger and keras.callbacks.TensorBoard write two event
        # files into one run directory at once; the Python loader follows only
        # the newest file unless told to poll every active one.
        if getattr(flags, "reload_multifile", False) is None:
            flags.reload_multifile = True

    def load(self, context):
        return ActivationsPlugin(context)
