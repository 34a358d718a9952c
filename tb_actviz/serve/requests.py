"""The routes' query parameters, checked: a bad one is a 400 naming it."""

import re

from tensorboard import plugin_util

MAX_BLOBS_PER_REQUEST = 1024
MAX_INDEX_LIST_CHARS = 8192


class BadRequest(Exception):
    """A request the routes cannot take: answered 400 with the message."""


def arg(request, name):
    value = request.args.get(name)
    if value is None or value == "":
        raise BadRequest("missing query parameter %r" % name)
    return value


def int_arg(request, name, minimum=None):
    value = arg(request, name)
    if not re.fullmatch(r"-?[0-9]{1,18}", value):
        raise BadRequest("query parameter %r must be an integer, got %r" % (name, value))
    number = int(value)
    if minimum is not None and number < minimum:
        raise BadRequest("query parameter %r must be >= %d" % (name, minimum))
    return number


def float_arg(request, name):
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadRequest("query parameter %r must be a number, got %r" % (name, value))
    if number != number:
        raise BadRequest("query parameter %r must not be NaN" % name)
    return number


def parse_index_list(text):
    """'0,3,5-9' -> [0, 3, 5, 6, 7, 8, 9]; an index given twice is kept once
    (where it first appears)."""
    if len(text) > MAX_INDEX_LIST_CHARS:
        raise BadRequest("indices: at most %d characters" % MAX_INDEX_LIST_CHARS)
    indices = {}
    for part in text.split(","):
        match = re.fullmatch(r"([0-9]{1,6})(?:-([0-9]{1,6}))?", part.strip())
        if not match:
            raise BadRequest("indices must look like '1-64' or '0,3,5-9', got %r" % text)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise BadRequest("index range %r is reversed" % part)
        if last - first + 1 > MAX_BLOBS_PER_REQUEST:
            raise BadRequest("at most %d blobs per request" % MAX_BLOBS_PER_REQUEST)
        indices.update(dict.fromkeys(range(first, last + 1)))
        if len(indices) > MAX_BLOBS_PER_REQUEST:
            raise BadRequest("at most %d blobs per request" % MAX_BLOBS_PER_REQUEST)
    return list(indices)


def where(request):
    """(request context, experiment id) of a request."""
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def tag_of(request):
    """(run, tag) a request names."""
    return arg(request, "run"), arg(request, "tag")


def step_of(request):
    """(step, wall time or None) a request names."""
    return int_arg(request, "step", minimum=0), float_arg(request, "wall_time")
