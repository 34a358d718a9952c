"""tb_actviz.read.event_blobs: the blobs of events TensorBoard keeps no
sample of, read from the event files through an index of their records."""

import json

from read_support import summary_run
from tb_actviz import metadata
from tb_actviz.read import event_blobs


def test_only_summaries_events_are_indexed(tmp_path):
    run_dir = str(tmp_path / "run")
    tags = [metadata.layer_tag("a"), metadata.layer_tag("b")]
    summary_run(run_dir, [(s, 100.0 + s, s) for s in range(5)], tags, 2)
    events = event_blobs.EventBlobs(indexed=[metadata.SUMMARIES_TAG])
    found = events.events(run_dir, metadata.SUMMARIES_TAG, [1, 3, 9],
                          lambda e: json.loads(e.summary.value[0].tensor.string_val[0]))
    assert found == {1: tags, 3: tags}
    (index,) = [entry[2] for entry in events._indexes.values()]
    assert sorted(index) == [(metadata.SUMMARIES_TAG, s) for s in range(5)]  # one entry per log
