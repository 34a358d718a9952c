"""The front end's module graph, the plugin's bundle of it, and the PNG decoder.

The plugin serves app.js and every module it imports as one module,
`/bundle.js` (tb_actviz/serve/bundle.py), so that the browser fetches the tab
in one request instead of one import level at a time. The bundle must hold
every module of frontend/ (index.js aside: it is the small entry that loads
the bundle) and, run, give each module's exports exactly as the files loaded
one by one do; the bundler must refuse module syntax it does not rewrite.

`frontend/png.js` inflates the quantized strips in script; it must decode
what tb_actviz writes (and any valid 8-bit gray PNG) to the same bytes, and
refuse damaged streams. Both run in Node (skipped where `node` is missing);
the browser tests run the bundle in Chromium.
"""

import json
import os
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

from tb_actviz.format import images
from tb_actviz.serve import bundle

from paths import FRONTEND  # noqa: E402
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def modules_on_disk():
    return sorted(
        os.path.relpath(os.path.join(folder, name), FRONTEND).replace(os.sep, "/")
        for folder, _, files in os.walk(FRONTEND)
        for name in files
        if name.endswith(".js")
    )


def run_node(folder, script):
    """Runs ES module `script` in `folder` (a package of "type": "module"); its JSON output."""
    with open(os.path.join(folder, "package.json"), "w") as f:
        f.write('{"type": "module"}')
    path = os.path.join(folder, "check.js")
    with open(path, "w") as f:
        f.write(script)
    out = subprocess.run([NODE, path], cwd=folder, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# The bundle of the tab -------------------------------------------------------------


def test_the_bundle_holds_every_module_but_the_entry():
    built = bundle.build(FRONTEND, "app.js")
    assert sorted(built.paths) == [p for p in modules_on_disk() if p != "index.js"]
    assert built.paths[-1] == "app.js"  # evaluated last: it imports the others
    assert len(set(built.paths)) == len(built.paths)


def test_index_js_imports_nothing_and_loads_the_bundle():
    # The entry starts /first at once: no static import may delay it.
    with open(os.path.join(FRONTEND, "index.js"), encoding="utf-8") as f:
        source = f.read()
    assert not [line for line in source.splitlines() if line.startswith(("import ", "import{"))]
    assert '"./bundle.js"' in source and 'staticUrl("app.js")' in source
    assert 'fetch(firstUrl()' in source


COMPARE_JS = r"""
const bundle = await import("./bundle.js");
const report = { modules: Object.keys(bundle.MODULES), problems: [], entry: Object.keys(bundle).sort() };
for (const [path, namespace] of Object.entries(bundle.MODULES)) {
  const original = await import("./" + path);
  const names = Object.keys(original).sort();
  if (JSON.stringify(names) !== JSON.stringify(Object.keys(namespace).sort())) report.problems.push([path, "exports", names, Object.keys(namespace)]);
  for (const name of names) {
    const [a, b] = [original[name], namespace[name]];
    if (typeof a !== typeof b) report.problems.push([path, name, "type"]);
    else if (typeof a === "function") { if (String(a) !== String(b)) report.problems.push([path, name, "source"]); }
    else if (JSON.stringify(a) !== JSON.stringify(b)) report.problems.push([path, name, "value"]);
  }
}
console.log(JSON.stringify(report));
"""


@needs_node
def test_the_bundle_runs_and_equals_the_module_graph(tmp_path):
    # Each module's exports, from the bundle and from its file: same names, same
    # function and class sources, same values.
    folder = tmp_path / "frontend"
    shutil.copytree(FRONTEND, folder, ignore=shutil.ignore_patterns("*.md", "*.css"))
    built = bundle.build(FRONTEND, "app.js")
    (folder / "bundle.js").write_text(built.text, encoding="utf-8")
    report = run_node(str(folder), COMPARE_JS)
    assert report["problems"] == []
    assert report["modules"] == built.paths
    assert report["entry"] == ["App", "MODULES", "startApp"]


def write_modules(root, files):
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


# Evaluation order is the browser's: depth first, imports in source order, each
# module after those it imports; aliases, multi-line imports, ../ paths, and a
# binding two modules share.
ORDERED = {
    "main.js": ('import { b } from "./b.js";\n'
                'import {\n  a as first,\n  Thing,\n} from "./lib/a.js";\n'
                'import { shared } from "./c.js";\n'
                'globalThis.order.push("main");\n'
                'export const result = [first(), b, shared.join(""), typeof Thing];\n'
                'export async function later() { return first(); }\n'),
    "b.js": ('import { shared } from "./c.js";\n'
             'globalThis.order.push("b");\n'
             'shared.push("b");\n'
             'export const b = "b";\n'),
    "lib/a.js": ('import { c, shared } from "../c.js";\n'
                 'globalThis.order.push("a");\n'
                 'shared.push("a");\n'
                 'export function a() { return "a" + c; }\n'
                 'export class Thing {}\n'),
    "c.js": 'globalThis.order.push("c");\nexport const c = 3;\nexport const shared = [];\n',
}

ORDER_JS = r"""
globalThis.order = [];
const native = await import("./main.js");
const nativeOrder = globalThis.order;
globalThis.order = [];
const bundled = await import("./bundle.js");
console.log(JSON.stringify({ nativeOrder, bundledOrder: globalThis.order,
  native: native.result, bundled: bundled.result, later: await bundled.later(),
  modules: Object.keys(bundled.MODULES) }));
"""


@needs_node
def test_the_bundler_keeps_evaluation_order_and_bindings(tmp_path):
    write_modules(tmp_path, ORDERED)
    built = bundle.build(str(tmp_path), "main.js")
    assert built.paths == ["c.js", "b.js", "lib/a.js", "main.js"]
    (tmp_path / "bundle.js").write_text(built.text, encoding="utf-8")
    report = run_node(str(tmp_path), ORDER_JS)
    assert report["nativeOrder"] == report["bundledOrder"] == ["c", "b", "a", "main"]
    assert report["native"] == report["bundled"] == ["a3", "b", "ba", "function"]
    assert report["later"] == "a3"
    assert report["modules"] == built.paths


@pytest.mark.parametrize(
    "files, message",
    [
        ({"main.js": 'export default 1;\n'}, "does not take"),
        ({"main.js": 'export let x = 1;\n'}, "does not take"),
        ({"main.js": 'const x = 1;\nexport { x };\n'}, "does not take"),
        ({"main.js": 'export const { x } = { x: 1 };\n'}, "one named"),
        ({"main.js": 'import * as a from "./a.js";\n', "a.js": ""}, "does not take"),
        ({"main.js": 'import "./a.js";\n', "a.js": ""}, "does not take"),
        ({"main.js": '  import { a } from "./a.js";\n', "a.js": "export const a = 1;\n"}, "does not take"),
        ({"main.js": 'import { a } from "a.js";\n'}, "relative paths"),
        ({"main.js": 'import { a } from "../a.js";\n'}, "outside"),
        ({"main.js": 'import { a } from "./gone.js";\n'}, "no such file"),
        ({"main.js": 'import { b } from "./a.js";\n', "a.js": "export const a = 1;\n"}, "does not export"),
        ({"main.js": 'import { a } from "./a.js";\nexport const m = 1;\n',
          "a.js": 'import { m } from "./main.js";\nexport const a = 1;\n'}, "cycle"),
        ({"main.js": 'const m = import("./a.js");\n'}, "import()"),
        ({"main.js": 'const u = import.meta.url;\n'}, "import()"),
        ({"main.js": 'const __actviz_m0 = 1;\n'}, "prefix"),
        ({"main.js": 'export function f() {}\nexport const f = 1;\n'}, "twice"),
    ],
)
def test_the_bundler_refuses_what_it_does_not_rewrite(tmp_path, files, message):
    write_modules(tmp_path, files)
    with pytest.raises(bundle.BundleError, match=message):
        bundle.build(str(tmp_path), "main.js")


def test_sources_change_when_a_module_changes(tmp_path):
    write_modules(tmp_path, {"main.js": "export const a = 1;\n"})
    before = bundle.sources(str(tmp_path))
    write_modules(tmp_path, {"main.js": "export const a = 22;\n"})
    assert bundle.sources(str(tmp_path)) != before
    assert "a = 22" in bundle.build(str(tmp_path), "main.js").text


# png.js ---------------------------------------------------------------------------------


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def filtered_rows(pixels, row_filter):
    """PNG scanlines of a uint8 (H, W) gray image, every row with `row_filter` (PNG 9.2)."""
    height, width = pixels.shape
    p = pixels.astype(np.int32)
    left = np.zeros_like(p)
    left[:, 1:] = p[:, :-1]
    up = np.zeros_like(p)
    up[1:] = p[:-1]
    up_left = np.zeros_like(p)
    up_left[1:, 1:] = p[:-1, :-1]
    if row_filter == 0:
        out = p
    elif row_filter == 1:
        out = p - left
    elif row_filter == 2:
        out = p - up
    elif row_filter == 3:
        out = p - (left + up) // 2
    else:
        estimate = left + up - up_left
        pa, pb, pc = np.abs(estimate - left), np.abs(estimate - up), np.abs(estimate - up_left)
        predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
        out = p - predictor
    rows = np.empty((height, width + 1), np.uint8)
    rows[:, 0] = row_filter
    rows[:, 1:] = (out % 256).astype(np.uint8)
    return rows.tobytes()


def gray_png(pixels, row_filter=2, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, idat_parts=1, flushes=0):
    """`flushes`: sync flushes in the stream (each an empty stored block after compressed ones)."""
    height, width = pixels.shape
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    rows = filtered_rows(pixels, row_filter)
    cut = [len(rows) * k // (flushes + 1) for k in range(flushes + 2)]
    data = b"".join(compressor.compress(rows[cut[k]:cut[k + 1]]) + compressor.flush(zlib.Z_SYNC_FLUSH)
                    for k in range(flushes)) + compressor.compress(rows[cut[flushes]:]) + compressor.flush()
    cut = [len(data) * k // idat_parts for k in range(idat_parts + 1)]
    idats = b"".join(png_chunk(b"IDAT", data[cut[k]:cut[k + 1]]) for k in range(idat_parts))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + idats + png_chunk(b"IEND", b""))


PNG_JS = r"""
import { readFileSync } from "node:fs";
import { decodeGrayPng } from "./png.js";
const cases = JSON.parse(readFileSync("cases.json", "utf8"));
const out = {};
for (const [name, file] of Object.entries(cases)) {
  const bytes = readFileSync(file);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  try {
    const decoded = decodeGrayPng(buffer);
    out[name] = decoded === null ? null : { width: decoded.width, height: decoded.height, q: Buffer.from(decoded.q).toString("base64") };
  } catch (error) {
    out[name] = { error: String(error.message) };
  }
}
console.log(JSON.stringify(out));
"""


def smooth_noise(rng, height, width):
    """Post-ReLU-like maps: smooth, with runs of zeros (what the strips hold)."""
    field = rng.normal(size=(height // 4 + 2, width // 4 + 2)).repeat(4, 0).repeat(4, 1)[:height, :width]
    return np.clip(field * 90 + 40, 0, 255).astype(np.uint8)


@needs_node
def test_png_js_decodes_gray_pngs_byte_for_byte(tmp_path):
    rng = np.random.default_rng(7)
    strip = smooth_noise(rng, 32, 8 * 32)  # a layer strip: 8 images of 32 x 32
    noise = rng.integers(0, 256, size=(14, 8 * 14), dtype=np.uint8)
    tall = np.tile(smooth_noise(rng, 16, 300), (40, 1))  # rows repeat: long back-references
    flat = np.zeros((5, 7), np.uint8)
    images_by_name = {}
    cases = {
        # What tb_actviz writes: ISA-L (or zlib) level 1, Up; the old Paeth; Pillow's own.
        "tb_actviz_up": (strip, images.encode_png(strip)),
        "tb_actviz_paeth": (strip, images.encode_png(strip, row_filter=images.PAETH)),
        "noise_up": (noise, images.encode_png(noise)),
        "noise_paeth": (noise, images.encode_png(noise, row_filter=images.PAETH)),
    }
    for row_filter in range(5):  # on smooth maps and on noise (ties between predictors)
        cases["filter_%d" % row_filter] = (strip, gray_png(strip, row_filter))
        cases["noise_filter_%d" % row_filter] = (noise, gray_png(noise, row_filter))
    cases.update({
        "stored_blocks": (strip, gray_png(strip, 2, level=0)),
        "fixed_huffman": (strip, gray_png(strip, 4, strategy=zlib.Z_FIXED)),
        "huffman_only": (noise, gray_png(noise, 1, strategy=zlib.Z_HUFFMAN_ONLY)),
        "run_lengths": (tall, gray_png(tall, 2, strategy=zlib.Z_RLE)),
        "long_distances": (tall, gray_png(tall, 0, level=9)),
        "several_idat": (strip, gray_png(strip, 3, idat_parts=3)),
        "sync_flushes": (strip, gray_png(strip, 2, flushes=5)),
        "stored_after_flushes": (noise, gray_png(noise, 0, level=0, flushes=3)),
        "flat": (flat, gray_png(flat, 0)),
    })
    from PIL import Image
    import io
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG", optimize=True)
    cases["pillow"] = (noise, buffer.getvalue())
    files = {}
    for name, (pixels, data) in cases.items():
        (tmp_path / (name + ".png")).write_bytes(data)
        files[name] = name + ".png"
        images_by_name[name] = pixels
    rgb = np.stack([strip] * 3, axis=-1)
    (tmp_path / "rgb.png").write_bytes(images.encode_png(rgb))
    files["rgb"] = "rgb.png"
    (tmp_path / "cases.json").write_text(json.dumps(files))
    shutil.copy(os.path.join(FRONTEND, "png.js"), tmp_path / "png.js")
    decoded = run_node(str(tmp_path), PNG_JS)
    import base64
    for name, pixels in images_by_name.items():
        result = decoded[name]
        assert "error" not in result, (name, result)
        assert (result["height"], result["width"]) == pixels.shape, name
        q = np.frombuffer(base64.b64decode(result["q"]), np.uint8).reshape(pixels.shape)
        np.testing.assert_array_equal(q, pixels, err_msg=name)
    assert decoded["rgb"] is None  # not an 8-bit gray PNG: the browser's decoder takes it


def damaged(data, offset, value=None):
    out = bytearray(data)
    out[offset] = (out[offset] ^ 0x5A) if value is None else value
    return bytes(out)


@needs_node
def test_png_js_refuses_damaged_streams(tmp_path):
    rng = np.random.default_rng(8)
    strip = smooth_noise(rng, 32, 256)
    good = images.encode_png(strip)
    idat = good.index(b"IDAT") + 4  # the zlib stream starts here
    length = struct.unpack(">I", good[idat - 8:idat - 4])[0]
    cases = {
        "adler": damaged(good, idat + length - 1),  # the checksum's last byte
        "zlib_header": damaged(good, idat, 0x78 ^ 0x01),
        "deep_in_the_stream": damaged(good, idat + length // 2),
        "truncated": good[:idat + length // 2],
        "short_rows": gray_png(strip[:, :255]).replace(b"\x00\x00\x00\xff", b"\x00\x00\x01\x00", 1),
    }
    files = {}
    for name, data in cases.items():
        (tmp_path / (name + ".png")).write_bytes(data)
        files[name] = name + ".png"
    (tmp_path / "cases.json").write_text(json.dumps(files))
    shutil.copy(os.path.join(FRONTEND, "png.js"), tmp_path / "png.js")
    decoded = run_node(str(tmp_path), PNG_JS)
    for name in cases:
        assert decoded[name] is not None and "error" in decoded[name], (name, decoded[name])
