"""What an export draws: the run and tag of a layer or of attributions, the
filter, probe image and step asked for, each checked against the log, and
the errors and warnings that say what is missing or unreadable."""

import sys

import numpy as np
from tensorboard import errors

from tb_actviz import metadata
from tb_actviz.reader import UnreadableDataError

# What reading a stored step raises when it cannot be read.
READ_ERRORS = (UnreadableDataError, errors.NotFoundError)


class ExportError(Exception):
    """Bad input to the export: printed as `tb-actviz export: error: ...`,
    exit status 2 (as argparse's own errors)."""


def _layer_path(tag):
    return tag[len(metadata.LAYER_TAG_PREFIX):]


def _skip_message(what, entry):
    """Why `what` ("layer conv1", "grad_cam attributions") of a run cannot be read."""
    if entry.newer_version is not None:
        return (
            "%s of run %s was written by a newer tb_actviz (format version %d; this one "
            "reads %d): upgrade tb_actviz" % (what, entry.run, entry.newer_version, metadata.PROTO_VERSION)
        )
    return "%s of run %s cannot be read: %s" % (what, entry.run, entry.reason)


def _no_run(run, tags):
    return ExportError("no run %r in the log dir; runs: %s" % (run, ", ".join(sorted(tags)) or "none"))


def resolve_layer(reader, run, layer):
    """(run, tag) of `layer`: in `run`, or in the first run (by name) that
    has it readable.

    Raises:
      ExportError: no such run or layer, or the layer's tags are all
        unreadable (the message says why, and what there is).
    """
    tags, skipped = reader.tags(), reader.skipped()
    tag = metadata.layer_tag(layer)
    unreadable = [entry for entry in skipped if entry.tag == tag and run in (None, entry.run)]
    if run is None:
        candidates = sorted(r for r, t in tags.items() if tag in t)
        if candidates:
            return candidates[0], tag
        if unreadable:
            raise ExportError("; ".join(_skip_message("layer " + layer, entry) for entry in unreadable))
        raise ExportError(_unknown_layer_message(tags, skipped, layer, "the log dir"))
    if run not in tags:
        raise _no_run(run, tags)
    if tag in tags[run]:
        return run, tag
    if unreadable:
        raise ExportError(_skip_message("layer " + layer, unreadable[0]))
    raise ExportError(_unknown_layer_message(
        {run: tags[run]}, [e for e in skipped if e.run == run], layer, "run %s" % run))


def logged_layers(tags):
    return sorted({
        _layer_path(tag) for run_tags in tags.values() for tag in run_tags
        if tag.startswith(metadata.LAYER_TAG_PREFIX)
    })


def _unknown_layer_message(tags, skipped, layer, where):
    known = logged_layers(tags)
    message = "no layer %r in %s; logged layers: %s" % (layer, where, ", ".join(known) or "none")
    unreadable = sorted({_layer_path(e.tag) for e in skipped if e.tag.startswith(metadata.LAYER_TAG_PREFIX)})
    if unreadable:
        message += " (and, unreadable: %s)" % ", ".join(unreadable)
    return message


def resolve_attribution(reader, run, method):
    """(run, tag) of the `method` attributions: in `run`, or in the first
    run (by name) that has them readable.

    Raises:
      ExportError: no such run, no such attributions (the message says how
        to log them), or their tags are unreadable.
    """
    tags, skipped = reader.tags(), reader.skipped()
    if run is not None and run not in tags:
        raise _no_run(run, tags)
    runs = [run] if run is not None else sorted(tags)
    tag = metadata.attribution_tag(method)
    for candidate in runs:
        if tag in tags[candidate]:
            return candidate, tag
    unreadable = [e for e in skipped if e.tag == tag and e.run in runs]
    if unreadable:
        raise ExportError("; ".join(_skip_message("%s attributions" % method, e) for e in unreadable))
    others = sorted({t[len(metadata.ATTRIBUTION_TAG_PREFIX):] for r in runs for t in tags[r]
                     if t.startswith(metadata.ATTRIBUTION_TAG_PREFIX)})
    what = "%s attributions" % method if others else "attributions (Grad-CAM, saliency)"
    if len(runs) == 1:
        missing = "run %s has no %s" % (runs[0], what)
    else:
        missing = "no run of the log dir (%s) has %s" % (", ".join(runs) or "it has none", what)
    if others:
        raise ExportError("--method %s: %s; logged: %s" % (method, missing, ", ".join(others)))
    raise ExportError("%s to show: log them with ActivationLogger(..., attributions=True)" % missing)


def describe_steps(steps):
    if len(steps) <= 10:
        return ", ".join(str(s) for s in steps) or "none"
    return "%s, ..., %d (%d steps)" % (", ".join(str(s) for s in steps[:3]), steps[-1], len(steps))


def check_step(step, steps, what_has):
    """Refuses a --step that was not logged; `what_has` says whose steps
    they are ("layer conv1 of run train has")."""
    if step is not None and step not in steps:
        raise ExportError("%s no step %d; logged steps: %s" % (what_has, step, describe_steps(steps)))


def filter_position(snapshot_info, filter_index):
    """Where --filter is among the logged filters."""
    indices = list(snapshot_info.filter_indices)
    if filter_index not in indices:
        raise ExportError(
            "--filter %d was not logged; logged filters: %d to %d"
            % (filter_index, indices[0], indices[-1])
        )
    return indices.index(filter_index)


def check_image(info, image, run, layer):
    if image >= info.num_images:
        raise ExportError(
            "--image %d: layer %s of run %s has %d probe images (0 to %d)"
            % (image, layer, run, info.num_images, info.num_images - 1)
        )


def probe_images(reader, run):
    """The probe images of `run` to lay attribution maps over."""
    try:
        pictures, _ = reader.probe(run)
    except KeyError as e:
        raise ExportError("run %s has no readable probe images to lay the maps over: %s"
                          % (run, e.args[0])) from None
    except UnreadableDataError as e:
        raise ExportError(str(e)) from None
    for i, picture in enumerate(pictures):
        gray_or_rgb = picture.ndim == 2 or (picture.ndim == 3 and picture.shape[2] == 3)
        if picture.dtype != np.uint8 or not gray_or_rgb:
            raise ExportError("probe image %d of run %s is not an 8-bit gray or RGB image (%s %s)"
                              % (i, run, picture.dtype, "x".join(map(str, picture.shape))))
    return pictures


def nothing_readable(what, steps):
    """No step of `what` ("layer conv1 of run train") could be read."""
    return ExportError("no step of %s can be read (%d tried)" % (what, len(steps)))


def read_error(e, run, tag, step, steps, other_steps_hint):
    """An `ExportError` for stored data that cannot be read."""
    message = str(e)
    if isinstance(e, errors.NotFoundError):
        message = "run %s, tag %s, step %s: %s" % (run, tag, step if step is not None else steps[-1], e)
    hint = ""
    if other_steps_hint and len(steps) > 1:
        hint = " (other steps may be readable: --step; logged steps: %s)" % describe_steps(steps)
    return ExportError(message + hint)


def warn_left_out(unreadable):
    for step, error in unreadable:
        sys.stderr.write("tb-actviz export: warning: step %d left out: %s\n" % (step, error))


def warn_hidden(reader, run, tag):
    """Warns when a restarted training replaced an earlier one's steps of
    `tag` (the figures show the later training, as TensorBoard does)."""
    hidden = reader.hidden_steps(run, tag)
    if hidden:
        sys.stderr.write(
            "tb-actviz export: warning: run %s, tag %s holds two trainings: a later one restarted "
            "at step %d, so %d log(s) of the earlier one (steps %s) are hidden, as in TensorBoard; "
            "give each training its own log_dir to see both\n"
            % (run, tag, min(step for step, _ in hidden), len(hidden),
               describe_steps(sorted({step for step, _ in hidden}))))
