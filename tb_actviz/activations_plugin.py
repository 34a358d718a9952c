"""The TensorBoard "Activations" plugin: serves logged feature maps to the tab.

Lists tags and steps through `context.data_provider`, so it works with the
Rust data server (`--load_fast=true`) and the Python loader alike, and needs
neither TensorFlow nor Keras; on the Python loader it also asks its
multiplexer which training a restarted run shows (`read.restarts`). Pixels
come from the runs' pixel files and per-filter summaries from the event
files (`read.pixel_store`, `read.event_blobs`). Each route is a short function over the `read`
package (`read.catalog`: tags and steps; `read.blob_source`: checked
blobs); `serve` parses requests and frames responses. Routes are documented
in docs/http_api.md. The front end's modules are also served as one module,
`/bundle.js` (`serve.bundle`, built when the plugin starts and again when a
file changes), and `/first` brings what the tab's first picture needs in one
answer (`serve.first_paint`).
"""

import logging
import os
import threading

from werkzeug import security

from tensorboard import errors
from tensorboard.backend import http_util
from tensorboard.backend.event_processing import data_provider
from tensorboard.plugins import base_plugin

from tb_actviz import metadata
from tb_actviz.read import blob_source
from tb_actviz.read import catalog
from tb_actviz.read import pixel_store
from tb_actviz.read import restarts
from tb_actviz.serve import bundle
from tb_actviz.serve import first_paint
from tb_actviz.serve import requests
from tb_actviz.serve import responses
from tb_actviz.serve import runs_json

logger = logging.getLogger(__name__)

# The module `/bundle.js` is built from (with every module it imports), relative to the front end.
APP_MODULE = "app.js"

# Steps kept per tag when --samples_per_plugin does not say: every epoch of a
# long run (TensorBoard's own default for unknown blob plugins is 10).
DEFAULT_SAMPLES = 1000

_STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _frontend_dir():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "frontend")


class ActivationsPlugin(base_plugin.TBPlugin):
    """Serves the Activations tab and its data."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        # /first lists the runs once for its step list too (first_paint.ListingMemo).
        provider = self._listing_memo = first_paint.ListingMemo(context.data_provider)
        multiplexer = getattr(context, "multiplexer", None)  # the Python loader's only
        if multiplexer is not None and isinstance(context.data_provider, data_provider.MultiplexerDataProvider):
            # After a restart it shows the earlier training; the Rust data server the later one.
            provider = restarts.LatestTrainingProvider(provider, multiplexer)
        self._data_provider = provider  # what the catalog and the blob source read through
        downsample = (context.sampling_hints or {}).get(self.plugin_name, DEFAULT_SAMPLES) or 10**9
        self._catalog = catalog.Catalog(provider, downsample)
        flags = context.flags
        self._blobs = blob_source.BlobSource(provider, pixel_store.PixelStore(pixel_store.RunLocator(
            logdir=getattr(flags, "logdir", None) or context.logdir,
            logdir_spec=getattr(flags, "logdir_spec", None),
        )))
        self._frontend_dir = _frontend_dir()
        self._bundle_lock = threading.Lock()
        self._bundle = self._bundle_sources = None
        self._current_bundle()

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index_js,
            "/bundle.js": self._serve_bundle,
            "/first": self._serve_first,
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
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Activations")

    # Routes ------------------------------------------------------------------

    @responses.route
    def _serve_runs(self, request):
        listing, skipped = self._catalog.listing(*requests.where(request))
        return http_util.Respond(request, runs_json.runs(listing, skipped), "application/json")

    @responses.route
    def _serve_steps(self, request):
        sequence = self._catalog.sequence(*requests.where(request), *requests.tag_of(request))
        return http_util.Respond(request, runs_json.steps(sequence), "application/json")

    @responses.route
    def _serve_first(self, request):
        """/runs, /steps of the layer shown and /blobs of its step, in one answer."""
        step = requests.int_arg(request, "step", minimum=0) if request.args.get("step") else None
        indices = request.args.get("indices")
        header, blobs = first_paint.first_paint(
            self._catalog, self._blobs, self._listing_memo, *requests.where(request),
            run=request.args.get("run") or None, layer=request.args.get("layer") or None,
            step=step, indices=requests.parse_index_list(indices) if indices else None)
        return responses.header_and_blobs(request, header, blobs)

    def _step_blobs(self, request, indices):
        """The checked blobs `indices` of the step a request names."""
        ctx, experiment = requests.where(request)
        run, tag = requests.tag_of(request)
        md, datum = self._catalog.datum(ctx, experiment, run, tag, *requests.step_of(request))
        return self._blobs.read(ctx, run, tag, md, datum, indices)

    @responses.route
    def _serve_blob(self, request):
        (data,) = self._step_blobs(request, [requests.int_arg(request, "index", minimum=0)])
        content_type = "image/png" if data[:4] == b"\x89PNG" else "application/octet-stream"
        return responses.blob(request, data, content_type)

    @responses.route
    def _serve_blobs(self, request):
        indices = requests.parse_index_list(requests.arg(request, "indices"))
        return responses.length_prefixed(request, self._step_blobs(request, indices))

    @responses.route
    def _serve_series(self, request):
        """Blob `index` at every step that has it; a step whose blob is missing
        or damaged is left out (the others still show)."""
        ctx, experiment = requests.where(request)
        run, tag = requests.tag_of(request)
        index = requests.int_arg(request, "index", minimum=0)
        sequence = self._catalog.sequence(ctx, experiment, run, tag)
        return responses.step_series(request, self._blobs.series(
            ctx, run, tag, sequence.metadata, sequence.steps, index))

    @responses.route
    def _serve_summaries(self, request):
        ctx, experiment = requests.where(request)
        run, tag = requests.tag_of(request)
        sequence = self._catalog.sequence(ctx, experiment, run, tag)
        md = sequence.metadata
        if not metadata.pixels_in_plugin_files(md):
            raise requests.BadRequest(
                "tag %r of run %r has no summaries (format version %d, or not a layer): "
                "its statistics are blob 0 of /series" % (tag, run, md.version))
        return responses.step_series(request, self._blobs.summaries(ctx, run, tag, md, sequence.steps))

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

    def _current_bundle(self):
        """The `bundle.Bundle` of the front end's files as they are now (rebuilt
        when one changed), or None when they cannot be bundled (logged once)."""
        with self._bundle_lock:
            try:
                found = bundle.sources(self._frontend_dir)
            except OSError as e:
                found = ("unreadable", str(e))
            if found != self._bundle_sources:
                self._bundle_sources = found
                try:
                    self._bundle = bundle.build(self._frontend_dir, APP_MODULE)
                except (bundle.BundleError, OSError, UnicodeDecodeError) as e:
                    self._bundle = None
                    logger.warning("tb_actviz: the tab's modules are served one by one: %s", e)
            return self._bundle

    @responses.route
    def _serve_bundle(self, request):
        built = self._current_bundle()
        if built is None:
            raise errors.NotFoundError("the front end could not be bundled (see the log); "
                                       "its modules are under static/")
        return http_util.Respond(request, built.gzipped, "text/javascript", content_encoding="gzip")

    @responses.route
    def _serve_index_js(self, request):
        return self._static_response(request, "index.js")

    @responses.route
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
