"""How the routes answer: JSON errors instead of tracebacks, blob caching,
and the framing of step series (docs/http_api.md)."""

import functools
import json
import struct

from werkzeug import wrappers

from tensorboard import errors
from tensorboard.backend import http_util
from tensorboard.backend import json_util

from tb_actviz.serve import requests

BLOB_CACHE_SECONDS = 365 * 24 * 3600


def json_error(request, code, message):
    return http_util.Respond(request, {"error": message}, "application/json", code=code)


def route(handler):
    """Wraps a route: JSON errors with 400/404, never a traceback."""

    @wrappers.Request.application
    @functools.wraps(handler)
    def wrapped(self, request):
        try:
            return handler(self, request)
        except requests.BadRequest as e:
            return json_error(request, 400, str(e))
        except errors.NotFoundError as e:
            return json_error(request, 404, str(e) or "not found")
        except errors.InvalidArgumentError as e:
            return json_error(request, 400, str(e))

    return wrapped


def blob(request, body, content_type):
    """A blob (or blobs) of one step: cached for a year when the request
    named the step's wall time (a rewritten step has another)."""
    cached = request.args.get("wall_time") not in (None, "")
    return http_util.Respond(request, body, content_type,
                             expires=BLOB_CACHE_SECONDS if cached else 0)


def _framed(blobs):
    parts = []
    for data in blobs:
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def length_prefixed(request, blobs):
    """The framing of /blobs: (length, bytes) per blob."""
    return blob(request, _framed(blobs), "application/octet-stream")


def header_and_blobs(request, header, blobs):
    """The framing of /first: the length of a JSON header (u32 LE), the
    header (UTF-8, NaN and infinities as /runs writes them), then `blobs`
    as /blobs frames them. Not cached: it lists the log dir."""
    text = json.dumps(json_util.Cleanse(header, "utf-8")).encode("utf-8")
    return http_util.Respond(request, struct.pack("<I", len(text)) + text + _framed(blobs),
                             "application/octet-stream")


def step_series(request, series):
    """The framing of /series and /summaries: (step, wall time, length,
    bytes) per (datum, bytes) of `series`."""
    parts = []
    for datum, data in series:
        parts.append(struct.pack("<qdI", datum.step, datum.wall_time, len(data)))
        parts.append(data)
    return http_util.Respond(request, b"".join(parts), "application/octet-stream")
