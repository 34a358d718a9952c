"""What a log dir holds, as every reader shows it: the activations tags of
each run with their metadata (and those that cannot be read, with why), and
each tag's steps.

Read through a TensorBoard data provider: the plugin's (the Rust data server
or the Python loader), or the one `LogReader` opens. A step that goes back
is a restart: the later training is shown from there on
(`restarts.latest_training`). A tag's steps are cached while its time
series' (max step, max wall time, length) is unchanged: listing reads no
blob keys, reading a sequence builds one for every blob of every step
(~90 ms for 300 steps with the Python loader).
"""

import collections
import math
import threading
import typing

from tensorboard import errors
from tensorboard.data import provider

from tb_actviz import metadata
from tb_actviz.read import restarts

# The largest step a browser's numbers hold exactly (Number.MAX_SAFE_INTEGER).
MAX_ADDRESSABLE_STEP = 2**53 - 1
# Step lists kept between requests: a tab shows one layer at a time, two when
# comparing (each list holds a key per blob: ~4 MB at 300 steps, Python loader).
CACHED_SEQUENCES = 4


class SkippedTag(typing.NamedTuple):
    """An activations tag that cannot be read, left out of the listing.

    Attributes:
      run, tag: where it is.
      reason: why it was skipped (the metadata's parse error).
      newer_version: the stored format version, when the tag was written by
        a newer tb_actviz than this one (`metadata.PROTO_VERSION`); else None.
    """

    run: str
    tag: str
    reason: str
    newer_version: typing.Optional[int] = None


class Sequence(typing.NamedTuple):
    """A tag's metadata and steps.

    Attributes:
      metadata: the tag's `ActivationsPluginData`.
      data: every `BlobSequenceDatum` of the latest training, sorted by step.
      steps: those a browser can address (the tab's and the routes' steps).
      skipped: (datum, reason) of the others (`unaddressable`).
      hidden: (step, wall time) of an earlier training's steps that a
        restart replaced.
    """

    metadata: object
    data: list
    steps: list
    skipped: list
    hidden: list


def unaddressable(datum):
    """Why the tab cannot address a step (None if it can)."""
    if datum.step < 0:
        return "negative step"
    if datum.step > MAX_ADDRESSABLE_STEP:
        return "step above 2**53 - 1, the largest a browser's numbers hold exactly"
    if not math.isfinite(datum.wall_time):
        return "wall time %r is not a finite number" % datum.wall_time
    return None


class _Cache:
    """The last few entries, each valid while its version is unchanged."""

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


class Catalog:
    """The activations tags of a data provider, and their steps.

    Args:
      data_provider: TensorBoard's data provider (a
        `restarts.LatestTrainingProvider` knows the steps a restart hid).
      downsample: steps kept per tag (TensorBoard's sampling of the plugin).
    """

    def __init__(self, data_provider, downsample=10**9):
        self._provider = data_provider
        self._downsample = downsample
        self._sequences = _Cache(CACHED_SEQUENCES)

    def listing(self, ctx, experiment):
        """({run: {tag: ActivationsPluginData}}, [SkippedTag]), runs and
        tags sorted; a run whose tags are all skipped maps to {}."""
        mapping = self._provider.list_blob_sequences(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME)
        readable, skipped = {}, []
        for run, tags in sorted(mapping.items()):
            readable[run] = {}
            for tag, series in sorted(tags.items()):
                try:
                    readable[run][tag] = metadata.parse_plugin_metadata(series.plugin_content)
                except (TypeError, ValueError) as e:
                    skipped.append(SkippedTag(run, tag, str(e), getattr(e, "version", None)))
        return readable, skipped

    def sequence(self, ctx, experiment, run, tag):
        """The tag's `Sequence`.

        Raises:
          errors.NotFoundError: no such run or tag, or its metadata cannot
            be read (the message says why).
        """
        run_tag_filter = provider.RunTagFilter(runs=[run], tags=[tag])
        series = self._provider.list_blob_sequences(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=run_tag_filter,
        ).get(run, {}).get(tag)
        if series is None:
            raise errors.NotFoundError("no activations for run %r, tag %r" % (run, tag))

        def load():
            try:
                md = metadata.parse_plugin_metadata(series.plugin_content)
            except (ValueError, TypeError) as e:
                raise errors.NotFoundError("tag %r of run %r: %s" % (tag, run, e))
            result = self._provider.read_blob_sequences(
                ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME,
                downsample=self._downsample, run_tag_filter=run_tag_filter,
            )
            data, hidden = restarts.latest_training(result.get(run, {}).get(tag) or [])
            hidden = [(d.step, d.wall_time) for d in hidden]
            if isinstance(self._provider, restarts.LatestTrainingProvider):
                hidden = self._provider.hidden(run, tag)
            steps, skipped = [], []
            for datum in data:
                reason = unaddressable(datum)
                if reason:
                    skipped.append((datum, reason))
                else:
                    steps.append(datum)
            return Sequence(md, data, steps, skipped, hidden)

        version = (series.max_step, series.max_wall_time, series.max_length)
        return self._sequences.get((experiment, run, tag), version, load)

    def datum(self, ctx, experiment, run, tag, step, wall_time=None):
        """(the tag's metadata, the addressable datum of `step`).

        Raises:
          errors.NotFoundError: no such run, tag or step, or the step was
            rewritten since `wall_time` was listed.
        """
        sequence = self.sequence(ctx, experiment, run, tag)
        for datum in sequence.steps:
            if datum.step == step:
                if wall_time is not None and datum.wall_time != wall_time:
                    raise errors.NotFoundError(
                        "step %d was rewritten (wall time %r, asked for %r)"
                        % (step, datum.wall_time, wall_time))
                return sequence.metadata, datum
        raise errors.NotFoundError("no step %d for run %r, tag %r" % (step, run, tag))
