"""tb_actviz.format.pixel_file: the plugin's own file of a log (magic, header,
blobs back to back), written to real files and parsed back; damaged and
hostile headers are refused before anything past them is read."""

import json
import struct

import pytest

from tb_actviz.format import pixel_file

TAGS = [("actviz/layers/a", [b"stats-a", b"\x89PNG a0", b"\x89PNG a1"]),
        ("actviz/layers/b", [b"", b"\x89PNG b0"]),
        ("actviz/attribution/grad_cam", [b"record" * 10, b"\x89PNG cam"])]


def _written(tmp_path, data, name="f.actviz"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _layout(path, read=None):
    """The layout of a file as the pixel store reads it: its first bytes, then
    the rest of the header if it is longer."""
    with open(path, "rb") as f:
        head = f.read(read or pixel_file.HEADER_READ_SIZE)
        size = pixel_file.header_size(head)
        if size > len(head):
            head += f.read(size - len(head))
    return pixel_file.parse_layout(head, path.stat().st_size)


def _header(header, blobs=b""):
    encoded = json.dumps(header).encode()
    return pixel_file.MAGIC + struct.pack("<I", len(encoded)) + encoded + blobs


def test_names_follow_from_step_and_wall_time():
    name = pixel_file.file_name(42, 1700000000.25)
    assert name == "0000000042.1700000000250000.actviz"
    assert pixel_file.step_of(name) == 42
    for other in ["0000000042.1700000000123456.actviz.host.12.tmp", "events.out.tfevents.1.host",
                  "42.actviz", "x42.17.actviz", "0042.17a.actviz", "0042.17.png"]:
        assert pixel_file.step_of(other) is None, other


def test_every_blob_is_where_the_header_says(tmp_path):
    path = _written(tmp_path, pixel_file.encode(7, 12.5, TAGS))
    data = path.read_bytes()
    assert data[:8] == b"ACTVIZ01"
    for read in (None, 16):  # the whole header in the first read, or two reads
        layout = _layout(path, read)
        assert (layout.step, layout.wall_time) == (7, 12.5)
        assert set(layout.tags) == {tag for tag, _ in TAGS}
        for tag, blobs in TAGS:
            assert layout.blob_count(tag) == len(blobs)
            ranges = layout.blob_ranges(tag, range(len(blobs)))
            assert [data[o:o + n] for o, n in ranges] == blobs
            assert layout.blob_ranges(tag, [len(blobs) - 1]) == ranges[-1:]
    assert ranges[-1][0] + ranges[-1][1] == len(data)  # the last blob ends the file
    with pytest.raises(IndexError):
        layout.blob_ranges("actviz/layers/b", [2])
    with pytest.raises(IndexError):
        layout.blob_ranges("actviz/layers/b", [-1])
    with pytest.raises(KeyError):
        layout.blob_count("actviz/layers/c")


def test_an_empty_log_is_a_header_only():
    data = pixel_file.encode(0, 1.0, [])
    layout = pixel_file.parse_layout(data, len(data))
    assert layout.tags == {} and pixel_file.header_size(data) == len(data)


def test_not_a_pixel_file_or_a_newer_one(tmp_path):
    with pytest.raises(ValueError, match="not a tb_actviz pixel file"):
        pixel_file.header_size(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    with pytest.raises(ValueError, match="not a tb_actviz pixel file"):
        pixel_file.header_size(pixel_file.MAGIC + b"\0")  # no room for the length
    newer = b"ACTVIZ02" + pixel_file.encode(1, 1.0, TAGS)[8:]
    with pytest.raises(pixel_file.NewerLayoutError, match="layout 02; this one reads 01.*upgrade tb_actviz"):
        _layout(_written(tmp_path, newer))
    assert issubclass(pixel_file.NewerLayoutError, ValueError)
    with pytest.raises(ValueError, match="not a tb_actviz pixel file"):
        pixel_file.header_size(b"ACTVIZ00" + b"\0" * 8)  # an older magic is no pixel file either


def test_a_header_longer_than_allowed_is_refused_unread():
    claim = pixel_file.MAGIC + struct.pack("<I", pixel_file.MAX_HEADER_BYTES + 1)
    with pytest.raises(ValueError, match="header claims %d bytes" % (pixel_file.MAX_HEADER_BYTES + 1)):
        pixel_file.header_size(claim)
    assert pixel_file.header_size(pixel_file.MAGIC + struct.pack("<I", 5)) == 17


@pytest.mark.parametrize("header, problem", [
    ({"step": 1, "wall_time": 1.0}, 'not an object with a "tags" list'),
    ([1, 2], 'not an object with a "tags" list'),
    ({"step": 1, "wall_time": 1.0, "tags": [["t"]]}, r"not \[name, \[lengths\]\]"),
    ({"step": 1, "wall_time": 1.0, "tags": [[1, [2]]]}, r"not \[name, \[lengths\]\]"),
    ({"step": 1, "wall_time": 1.0, "tags": [["t", [True]]]}, "not an integer"),
    ({"step": 1, "wall_time": 1.0, "tags": [["t", [1.5]]]}, "not an integer"),
    ({"step": 1, "wall_time": 1.0, "tags": [["t", [-1]]]}, "negative blob length"),
    ({"wall_time": 1.0, "tags": []}, "bad pixel file header"),
    ({"step": "x", "wall_time": 1.0, "tags": []}, "bad pixel file header"),
], ids=["no tags", "a list", "entry of one", "name not a string", "bool length", "float length",
        "negative length", "no step", "step not a number"])
def test_a_damaged_header_says_what_is_wrong(tmp_path, header, problem):
    with pytest.raises(ValueError, match=problem):
        _layout(_written(tmp_path, _header(header)))


def test_a_header_that_is_no_json_or_too_deep_is_refused(tmp_path):
    data = pixel_file.MAGIC + struct.pack("<I", 5) + b"{nope"
    with pytest.raises(ValueError, match="bad pixel file header"):
        _layout(_written(tmp_path, data))
    deep = b"[" * 100000 + b"]" * 100000
    with pytest.raises(ValueError, match="nested too deeply"):
        _layout(_written(tmp_path, pixel_file.MAGIC + struct.pack("<I", len(deep)) + deep, "deep"))


def test_blobs_past_the_end_of_the_file_are_refused(tmp_path):
    data = pixel_file.encode(3, 2.0, TAGS)
    with pytest.raises(ValueError, match="pixel file holds %d bytes, its header describes %d"
                                         % (len(data) - 1, len(data))):
        _layout(_written(tmp_path, data[:-1]))
    head = data[:pixel_file.header_size(data)]
    with pytest.raises(ValueError, match="truncated pixel file header"):
        pixel_file.parse_layout(head[:-1], len(data))


def test_a_cached_pixel_file_header_is_small():
    # The plugin caches thousands of parsed headers (within a byte budget):
    # 16 layers x 50 blobs must stay a few KB, not a list of ints per tag.
    import tracemalloc

    tags = [("actviz/layers/vgg16/block%d_conv%d" % (i, j), [b"x" * (900 + k) for k in range(50)])
            for i in range(4) for j in range(4)]
    data = pixel_file.encode(3, 1.5, tags)
    head = data[:pixel_file.header_size(data)]
    tracemalloc.start()
    try:
        layouts = [pixel_file.parse_layout(head, len(data)) for _ in range(100)]
        held = tracemalloc.get_traced_memory()[0] / len(layouts)
    finally:
        tracemalloc.stop()
    assert held < 12_000 and layouts[0].nbytes >= 0.8 * held, (held, layouts[0].nbytes)
    offset = pixel_file.header_size(data)
    for tag, blobs in tags:
        ranges = layouts[0].blob_ranges(tag, range(len(blobs)))
        assert [data[o:o + n] for o, n in ranges] == blobs
        assert ranges[0][0] == offset
        offset += sum(len(b) for b in blobs)
    with pytest.raises(IndexError):
        layouts[0].blob_ranges(tags[0][0], [50])
