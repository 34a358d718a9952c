"""Selecting layers by what a user types, whatever the framework.

A listing is a list of entries, one per layer (Keras: `layer_selection.
LayerEntry`; PyTorch: `tb_actviz.torch.modules.ModuleEntry`), each with a
`path` (names joined by the framework's separator: "/" in Keras, "." in
PyTorch), a `selector_text` (what to type in `layers=` to pick exactly it),
`class_name`, `output_shape`, `loggable` and `reason`, `is_conv`, and from
the traced forward pass `calls` and `call_order`. This module resolves
`layers=` items against such a listing (`"conv:k"`, exact paths, globs),
chooses the default selection and prints the listing as a table; each
framework's module adds the items only it has (Keras's indices, a Layer or
Module object).
"""

import difflib
import fnmatch
import logging
import re

import numpy as np

DEFAULT_MAX_LAYERS = 16
NOT_FLOAT = "output is not floating point: "
NOT_CALLED = "not called by the model's forward pass on the probe"
_CONV_SELECTOR = re.compile(r"conv:(-?[0-9]+)")

logger = logging.getLogger("tb_actviz")


def conv_layers(entries):
    """The loggable convolution layers of a listing in the order the forward
    pass calls them (listing order where no pass was traced): what
    `"conv:k"` indexes."""
    convs = [e for e in entries if e.is_conv and e.loggable]
    if all(e.call_order is not None for e in convs):
        convs.sort(key=lambda e: e.call_order)
    return convs


def spread(items, count):
    """At most `count` of `items`, evenly spread from the first to the last."""
    if len(items) <= count:
        return list(items)
    picks = np.unique(np.round(np.linspace(0, len(items) - 1, count)).astype(int))
    return [items[i] for i in picks]


def default_selection(entries, max_layers=DEFAULT_MAX_LAYERS):
    """What `layers=None` logs: the convolution layers, at most `max_layers`
    spread from first to last (empty if the model has none)."""
    return spread(conv_layers(entries), max_layers)


def checked_output(shape, dtype):
    """(shape, reason, dtype) of an output: the reason it cannot be logged,
    or "" where it can."""
    if "float" not in dtype:
        return shape, NOT_FLOAT + dtype, dtype
    if not 1 <= len(shape) <= 4:
        return shape, "output rank %d is not 2 to 5" % (len(shape) + 1), dtype
    return shape, "", dtype


def loggable_text(entry):
    if not entry.loggable:
        return "no (%s)" % entry.reason
    if entry.calls and entry.calls > 1:
        return "yes (called %d times: the first call is logged)" % entry.calls
    return "yes"


def format_layer_table(entries, max_layers=DEFAULT_MAX_LAYERS):
    """The listing as text: per row, a `layers=` value that selects exactly
    that row, `"conv:k"` for convolution layers, path, class, output shape,
    whether it can be logged, and `*` where the default selection takes it."""
    convs = conv_layers(entries)
    conv_rank = {id(e): k for k, e in enumerate(convs)}
    default = {id(e) for e in default_selection(entries, max_layers)}
    rows = [("layers=", "or", "path", "class", "output shape", "loggable", "default")]
    for e in entries:
        shape = "?" if e.output_shape is None else str(tuple(e.output_shape))
        rows.append(
            (
                e.selector_text,
                '"conv:%d"' % conv_rank[id(e)] if id(e) in conv_rank else "",
                e.path,
                e.class_name,
                shape,
                loggable_text(e),
                "*" if id(e) in default else "",
            )
        )
    if rows[1:] and all(r[0] == '"%s"' % r[2] for r in rows[1:]):
        rows = [r[:2] + r[3:] for r in rows]  # the layers= column is the path
        rows[0] = ("layers=", "or") + rows[0][2:]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        for row in rows
    ]
    if len(convs) > len(default):
        lines.append("* default: %d of the %d convolution layers, spread first to last "
                     "(max_layers=%d)" % (len(default), len(convs), max_layers))
    elif default:
        lines.append("* default: every convolution layer")
    return "\n".join(lines)


class LayerTable(list):
    """The entries `list_layers` returns; `str()` is the table, and its echo
    in a REPL or notebook is one line (the table was printed)."""

    def __str__(self):
        return format_layer_table(self)

    def __repr__(self):
        loggable = sum(e.loggable for e in self)
        return "<LayerTable: %d layers, %d loggable; print(table) shows it>" % (len(self), loggable)


def selection_error(argument, entries, what, hint="", separator="/"):
    """A ValueError naming what was wrong, the closest path, and the listing."""
    names = [e.path for e in entries]
    close = difflib.get_close_matches(what, names, n=1, cutoff=0.4)
    if not close:
        last = what.split(separator)[-1]
        close = difflib.get_close_matches(
            last, [n.split(separator)[-1] for n in names], n=1, cutoff=0.4)
        close = [n for n in names if n.split(separator)[-1] in close][:1]
    message = "%s=: %s" % (argument, hint)
    if close:
        message += "\nClosest match: %r." % close[0]
    message += "\nThe model's layers:\n" + format_layer_table(entries)
    return ValueError(message)


def resolve_name(entries, spec, argument, separator="/", aliases=None):
    """The entries one string item of `layers=` selects: `"conv:k"`, an
    exact path, then `aliases(spec)` (other names of one layer), then a glob
    (over whole paths when it holds `separator`, else over the last name).

    Raises:
      ValueError: it selects nothing, or, not being a pattern, several layers.
    """
    conv = _CONV_SELECTOR.fullmatch(spec)
    if conv and not any(e.path == spec for e in entries):
        convs = conv_layers(entries)
        k = int(conv.group(1))
        if not -len(convs) <= k < len(convs):
            raise selection_error(
                argument, entries, spec,
                "%r: the model has %d convolution layers (conv:0 to conv:%d, or "
                "conv:-1 for the last)" % (spec, len(convs), len(convs) - 1),
                separator,
            )
        return [convs[k]]
    exact = [e for e in entries if e.path == spec]
    if not exact and aliases is not None:
        exact = aliases(spec)
    if exact:
        return exact
    if separator in spec:
        matched = [e for e in entries if fnmatch.fnmatchcase(e.path, spec)]
    else:
        matched = [e for e in entries if fnmatch.fnmatchcase(e.path.split(separator)[-1], spec)]
    if not matched:
        raise selection_error(argument, entries, spec, "no layer matches %r" % spec, separator)
    is_pattern = any(c in spec for c in "*?[")
    if not is_pattern and len(matched) > 1:
        raise selection_error(
            argument, entries, spec,
            "%r names several layers (%s); use a full path"
            % (spec, ", ".join(e.path for e in matched)),
            separator,
        )
    if is_pattern:
        matched = [e for e in matched if e.loggable or e.reason.startswith(NOT_FLOAT)]
    return matched


def select(entries, layers, resolve_one, max_layers=DEFAULT_MAX_LAYERS, argument="layers",
           separator="/"):
    """Resolves a `layers=` argument to loggable entries, in order.

    Args:
      entries: the model's listing.
      layers: None (the default selection), one item or a list of items.
      resolve_one: item -> the entries it selects (raises on a bad item).
      max_layers: the cap of the default selection.
      argument: the argument's name, for messages.
      separator: the framework's path separator, for messages.

    Raises:
      ValueError: nothing to log, or an item selects a layer that cannot be
        logged; the message lists the model's layers.
    """
    if layers is None:
        chosen = default_selection(entries, max_layers)
        if not chosen:
            raise selection_error(
                argument, entries, "",
                "the model has no convolution layer to log by default; "
                "pass layers= with the layers to log", separator,
            )
        warn_of_repeated_calls(chosen, argument)
        return chosen
    specs = layers if isinstance(layers, (list, tuple)) else [layers]
    if not specs:
        raise ValueError("%s= is empty: pass None for the default selection" % argument)
    chosen, skipped = [], []
    for spec in specs:
        for entry in resolve_one(spec):
            if entry.reason.startswith(NOT_FLOAT):
                skipped.append("%s (%s)" % (entry.path, entry.reason[len(NOT_FLOAT):]))
                continue
            if not entry.loggable:
                raise selection_error(
                    argument, entries, entry.path,
                    "%r selects %s (%s), which cannot be logged: %s"
                    % (spec, entry.path, entry.class_name, entry.reason),
                    separator,
                )
            if entry not in chosen:
                chosen.append(entry)
    if skipped:
        logger.warning(
            "tb_actviz: skipping layers with integer or boolean outputs, which have "
            "no activations to show: %s", ", ".join(skipped)
        )
    if not chosen:
        raise selection_error(argument, entries, str(layers),
                              "%r selects no loggable layer" % (layers,), separator)
    warn_of_repeated_calls(chosen, argument)
    return chosen


def warn_of_repeated_calls(chosen, argument):
    for entry in chosen:
        if entry.calls and entry.calls > 1:
            logger.warning(
                "tb_actviz: %s: layer %s is called %d times per forward pass (a shared "
                "layer, or a block applied more than once); its first call is logged",
                argument, entry.path, entry.calls)
