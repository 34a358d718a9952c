"""What a reader shows of a tag whose steps go back: a restarted training.

A second training into the same run directory (a new process, a resumed
job) logs steps 0, 1, ... again. TensorBoard's Rust data server treats a
step that is not above the last one as a restart: the new record replaces
every record at that step or later ("preemption", its `reservoir.rs`).
TensorBoard's Python loader keeps both trainings' records side by side.
`latest_training` applies the Rust data server's rule to what either loader
gives, so the tab on both loaders, `LogReader` and `tb-actviz export` show
the same steps with the same data: the latest training from where it
started, and the earlier one only before that.
"""


def latest_training(data):
    """(kept, hidden) of a tag's data in the order its records were written.

    Args:
      data: the tag's data (anything with a `.step`), in write order: the
        order TensorBoard's data provider gives (event files by name, records
        in file order).

    Returns:
      `kept`: ascending in step, each record that no later record at its
      step or an earlier one replaced; `hidden`: the records replaced, in
      write order.
    """
    kept, hidden = [], []
    for datum in data:
        while kept and kept[-1].step >= datum.step:
            hidden.append(kept.pop())
        kept.append(datum)
    hidden.sort(key=lambda d: d.step)
    return kept, hidden


_KEY_PREFIX = "actviz-restart."


class LatestTrainingProvider:
    """TensorBoard's Python loader's data provider, with blob sequences as the
    Rust data server gives them after a restart (`latest_training`).

    `MultiplexerDataProvider.read_blob_sequences` keeps the *first* event of a
    step and so shows the earlier training where the Rust data server shows
    the later one. This reads the loader's events in write order
    (`multiplexer.Tensors`) instead, and gives each datum blob keys that name
    its event by step and wall time; every other call goes to the provider.

    Args:
      provider: the `MultiplexerDataProvider`.
      multiplexer: its `EventMultiplexer`.
    """

    def __init__(self, provider, multiplexer):
        self._provider = provider
        self._multiplexer = multiplexer

    def __getattr__(self, name):
        return getattr(self._provider, name)

    def hidden(self, run, tag):
        """[(step, wall time)] of the events of `tag` a restart replaced."""
        return [(e.step, e.wall_time) for e in latest_training(self._multiplexer.Tensors(run, tag))[1]]

    def read_blob_sequences(self, ctx=None, *, experiment_id, plugin_name, downsample=None,
                            run_tag_filter=None):
        from tensorboard.data import provider as provider_lib

        listing = self._provider.list_blob_sequences(
            ctx, experiment_id=experiment_id, plugin_name=plugin_name, run_tag_filter=run_tag_filter)
        result = {}
        for run, tags in listing.items():
            result[run] = {}
            for tag in tags:
                kept, _ = latest_training(self._multiplexer.Tensors(run, tag))
                result[run][tag] = _downsampled([
                    provider_lib.BlobSequenceDatum(
                        step=event.step,
                        wall_time=event.wall_time,
                        values=tuple(provider_lib.BlobReference(_blob_key(run, tag, event, i))
                                     for i in range(_blob_count(event.tensor_proto))),
                    )
                    for event in kept
                ], downsample)
        return result

    def read_blob(self, ctx=None, *, blob_key):
        if not blob_key.startswith(_KEY_PREFIX):
            return self._provider.read_blob(ctx, blob_key=blob_key)
        import base64
        import json

        from tensorboard import errors
        from tensorboard.util import tensor_util

        try:
            run, tag, step, wall_time, index = json.loads(
                base64.urlsafe_b64decode(blob_key[len(_KEY_PREFIX):]))
        except ValueError:
            raise errors.NotFoundError("bad blob key %r" % blob_key) from None
        try:
            events = self._multiplexer.Tensors(run, tag)
        except KeyError:
            raise errors.NotFoundError("no run %r with tag %r" % (run, tag)) from None
        event = next((e for e in events if e.step == step and e.wall_time == wall_time), None)
        if event is None:
            raise errors.NotFoundError("no step %r written at %r of %r, %r" % (step, wall_time, run, tag))
        return tensor_util.make_ndarray(event.tensor_proto)[index]


def _blob_key(run, tag, event, index):
    import base64
    import json

    # repr-exact wall times: a float's JSON is its shortest round-trip form.
    text = json.dumps([run, tag, event.step, event.wall_time, index], allow_nan=True)
    return _KEY_PREFIX + base64.urlsafe_b64encode(text.encode()).decode()


def _blob_count(tensor_proto):
    """The blobs of a blob sequence's tensor: its first dimension, as
    TensorBoard's provider counts them (a scalar holds one)."""
    dims = tensor_proto.tensor_shape.dim
    count = 1
    for dim in dims:
        count *= dim.size
    return count


def _downsampled(data, count):
    """At most `count` of `data` (None: all), spread evenly, the last kept."""
    if count is None or len(data) <= count:
        return data
    if count <= 0:
        return []
    step = (len(data) - 1) / max(count - 1, 1)
    return [data[round(k * step)] for k in range(count)] if count > 1 else [data[-1]]
