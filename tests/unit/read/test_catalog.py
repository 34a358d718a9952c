"""tb_actviz.read.catalog: the tags (and those skipped, with why), each tag's
addressable steps, cached until TensorBoard's data for the tag changes; over
real log dirs (tests/support/hostile_logdirs.py) loaded by TensorBoard's
Python loader."""

import os

import pytest

from tensorboard import errors

import hostile_logdirs
from read_support import CONV, CTX, open_log_dir
from tb_actviz import metadata
from tb_actviz.read import catalog
from tb_actviz.read.catalog import _Cache as _SequenceCache


def test_the_listing_keeps_what_it_reads_and_says_why_of_the_rest(root):
    _, cat, _ = open_log_dir(root)
    listing, skipped = cat.listing(CTX, "")
    assert list(listing) == sorted(listing)
    assert CONV in listing[hostile_logdirs.HEALTHY_RUN]
    assert [(s.run, s.newer_version is not None) for s in skipped] == [
        ("newer_version/train", True), ("undecodable_metadata/train", False)]
    assert listing["undecodable_metadata/train"] == {}  # its run is listed, empty
    assert "does not parse" in skipped[1].reason


def test_a_sequence_tells_addressable_steps_from_the_others(root):
    _, cat, _ = open_log_dir(root)
    sequence = cat.sequence(CTX, "", "huge_steps/train", metadata.layer_tag("huge_steps"))
    reasons = {d.step: reason for d, reason in sequence.skipped}
    assert any(step < 0 and reason == "negative step" for step, reason in reasons.items())
    assert any(step > catalog.MAX_ADDRESSABLE_STEP for step in reasons)
    assert all(0 <= d.step <= catalog.MAX_ADDRESSABLE_STEP for d in sequence.steps)
    assert len(sequence.data) == len(sequence.steps) + len(sequence.skipped)
    nan = cat.sequence(CTX, "", "nan_wall_time/train", metadata.layer_tag("nan_wall_time"))
    assert [reason for _, reason in nan.skipped] == ["wall time nan is not a finite number"]
    with pytest.raises(errors.NotFoundError, match="no activations for run 'nope'"):
        cat.sequence(CTX, "", "nope", CONV)
    with pytest.raises(errors.NotFoundError, match="no step 9 for run"):
        cat.datum(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV, 9)
    md, datum = cat.datum(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV, 1)
    assert datum.step == 1 and md.kind == metadata.Kind.LAYER
    with pytest.raises(errors.NotFoundError, match="step 1 was rewritten"):
        cat.datum(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV, 1, wall_time=datum.wall_time + 1)


def test_a_sequence_is_read_once_until_its_series_changes(tmp_path):
    root = str(tmp_path)
    run_dir = os.path.join(root, hostile_logdirs.HEALTHY_RUN)
    hostile_logdirs._write_v1_steps(run_dir, CONV, [0, 1])
    multiplexer, cat, _ = open_log_dir(root)
    first = cat.sequence(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV)
    assert cat.sequence(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV) is first
    hostile_logdirs._write_v1_steps(run_dir, CONV, [2], wall_times=[first.steps[-1].wall_time + 5])
    multiplexer.Reload()
    again = cat.sequence(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV)
    assert again is not first and [d.step for d in again.steps] == [0, 1, 2]


def test_same_version_is_loaded_once_a_new_one_reloads():
    cache, loads = _SequenceCache(4), []

    def load(value):
        return lambda: loads.append(value) or value

    assert cache.get("t", (3, 1.0), load("a")) == "a"
    assert cache.get("t", (3, 1.0), load("b")) == "a"
    assert cache.get("t", (4, 2.0), load("c")) == "c"
    assert loads == ["a", "c"]


def test_least_recently_used_tag_is_evicted():
    cache, loads = _SequenceCache(2), []

    def get(key):
        return cache.get(key, 1, lambda: loads.append(key) or key)

    get("x"), get("y"), get("x"), get("z")  # "y" is now the oldest: evicted
    get("x"), get("y")
    assert loads == ["x", "y", "z", "y"]
