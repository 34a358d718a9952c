"""`/first`: what the tab's first picture needs, in one answer.

Opening the tab took /runs, then /steps of the layer shown, then /blobs of
its step, each after the previous one came back (and after the modules that
ask for it loaded). `/first` answers all three at once for the run, layer
and step the tab's URL state names (or the defaults the front end would
choose: the first run with layers, its first layer, its last step):
docs/http_api.md has the framing.

Each call to the Rust data server is a gRPC round trip (~45 ms on the
machines measured); `ListingMemo` lets the tag's step list reuse the
listing of all runs made for the same request instead of listing again.
"""

import contextlib
import threading

from tensorboard import errors

from tb_actviz.serve import runs_json


class ListingMemo:
    """A data provider that, inside `scope()` (per thread), lists the blob
    sequences of a plugin once and answers every `list_blob_sequences` of
    the scope from that listing, filtered; outside a scope every call goes
    to `provider`, as does every other method."""

    def __init__(self, provider):
        self._provider = provider
        self._local = threading.local()

    def __getattr__(self, name):
        return getattr(self._provider, name)

    @contextlib.contextmanager
    def scope(self):
        self._local.listings = {}
        try:
            yield
        finally:
            self._local.listings = None

    def list_blob_sequences(self, ctx=None, *, experiment_id, plugin_name, run_tag_filter=None):
        listings = getattr(self._local, "listings", None)
        if listings is None:
            return self._provider.list_blob_sequences(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name,
                run_tag_filter=run_tag_filter)
        key = (experiment_id, plugin_name)
        if key not in listings:
            listings[key] = self._provider.list_blob_sequences(
                ctx, experiment_id=experiment_id, plugin_name=plugin_name)
        listing = listings[key]
        if run_tag_filter is None:
            return listing
        runs, tags = run_tag_filter.runs, run_tag_filter.tags
        return {
            run: {tag: series for tag, series in by_tag.items() if tags is None or tag in tags}
            for run, by_tag in listing.items() if runs is None or run in runs
        }


def choose(runs, run=None, layer=None):
    """(run JSON, layer JSON) of /runs' `runs` the tab shows first: the run
    named `run` if it has layers, else the first that has; its layer whose
    `path` is `layer`, else its first (the front end's `resolveState`).
    None when no run has a layer."""
    with_layers = [entry for entry in runs if entry["layers"]]
    if not with_layers:
        return None
    chosen = next((entry for entry in with_layers if entry["run"] == run), with_layers[0])
    shown = next((entry for entry in chosen["layers"] if entry["path"] == layer), chosen["layers"][0])
    return chosen, shown


def step_at_or_before(steps, step=None):
    """The last of `steps` (data sorted by step) at or before `step`; the first
    when none is, the last when `step` is None (the front end's
    `stepIndexAtOrBefore`)."""
    if step is None:
        return steps[-1]
    found = steps[0]
    for datum in steps:
        if datum.step <= step:
            found = datum
    return found


def first_paint(catalog, blobs, memo, ctx, experiment, run=None, layer=None, step=None, indices=None):
    """(header, [bytes]) of `/first`.

    The header: `runs` (the body of /runs), `run`, `tag`, `layer` (the path)
    chosen, `steps` (the body of /steps of that tag), `step` ({step,
    wallTime} chosen), `indices` (the blobs that follow, in order: `indices`,
    else the statistics and every strip) and `error` (why the steps or the
    blobs are left out, else None). Listing errors raise as in /runs.
    """
    with memo.scope():
        listing, skipped = catalog.listing(ctx, experiment)
        runs = runs_json.runs(listing, skipped)
        header = {"runs": runs, "run": None, "tag": None, "layer": None, "steps": None,
                  "step": None, "indices": [], "error": None}
        chosen = choose(runs["runs"], run, layer)
        if chosen is None:
            return header, []
        run_entry, layer_entry = chosen
        run, tag = run_entry["run"], layer_entry["tag"]
        header.update(run=run, tag=tag, layer=layer_entry["path"])
        try:
            sequence = catalog.sequence(ctx, experiment, run, tag)
        except errors.PublicError as e:
            header["error"] = str(e)
            return header, []
    header["steps"] = runs_json.steps(sequence)
    if not sequence.steps:
        return header, []
    datum = step_at_or_before(sequence.steps, step)
    header["step"] = {"step": datum.step, "wallTime": datum.wall_time}
    if indices is None:
        indices = list(range(len(layer_entry["filterIndices"]) + 1))
    try:
        data = blobs.read(ctx, run, tag, sequence.metadata, datum, indices) if indices else []
    except errors.PublicError as e:
        header["error"] = str(e)
        return header, []
    header["indices"] = indices
    return header, data
