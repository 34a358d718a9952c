"""The tab's colormaps for Python-side rendering (Images-tab grids, export).

The lookup tables live once, in the front end's generated `colormaps.js`
(made by tools/gen_colormaps.py); this module reads them from there.
"""

import base64
import functools
import os
import re

import numpy as np

_ENTRY = re.compile(r'(\w+): \{ label: "[^"]*", diverging: \w+, lut: decodeLut\(\s*"([^"]+)"\)')


@functools.lru_cache(maxsize=None)
def lookup_tables():
    """{name: uint8 array (256, 3)} for every colormap of the tab."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(package, "frontend", "colormaps.js")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    tables = {
        name: np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(256, 3)
        for name, data in _ENTRY.findall(text)
    }
    if "viridis" not in tables:
        raise RuntimeError("no viridis table in %s" % path)
    return tables


def apply(q, name="viridis"):
    """Colours 8-bit values: uint8 (...,) -> uint8 (..., 3)."""
    return lookup_tables()[name][q]
