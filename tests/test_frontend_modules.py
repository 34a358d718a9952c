"""index.js preloads every module of the tab in one flat list (so the browser
fetches them at once instead of import level by import level): the list must
name exactly the modules that exist."""

import os
import re

FRONTEND = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "frontend")


def test_preload_list_matches_the_modules():
    with open(os.path.join(FRONTEND, "index.js"), encoding="utf-8") as f:
        source = f.read()
    start = source.index("export const MODULES")
    listed = re.findall(r'"([\w/]+\.js)"', source[start:source.index("];", start)])
    on_disk = sorted(
        os.path.relpath(os.path.join(folder, name), FRONTEND).replace(os.sep, "/")
        for folder, _, files in os.walk(FRONTEND)
        for name in files
        if name.endswith(".js") and name != "index.js"
    )
    assert sorted(listed) == on_disk
