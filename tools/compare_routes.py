"""Compares two recordings of tools/record_routes.py.

    python tools/compare_routes.py A.json B.json
    python tools/compare_routes.py DIR_A DIR_B     (every *.json of either, by name)

Prints every request whose answer differs (status, content type, body hash,
cache control, and the bodies' first bytes where not 200) and every request
recorded on one side only. Exit status 0 when identical, 1 on any difference,
2 on bad arguments.
"""

import json
import os
import sys

FIELDS = ("status", "content_type", "sha256", "head", "cache_control")


def _show(answer):
    if answer is None:
        return "(not recorded)"
    named = dict(zip(FIELDS, answer))
    text = "%s %s sha256=%s cache=%s" % (named["status"], named["content_type"],
                                         named["sha256"][:16], named.get("cache_control"))
    if named.get("head") is not None:
        text += " body=%r" % named["head"]
    return text


def compare_files(a_path, b_path, out=sys.stdout):
    """Prints the differences of two recordings; returns their number."""
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    differing = 0
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            differing += 1
            print("%s\n  A: %s\n  B: %s" % (key, _show(a.get(key)), _show(b.get(key))), file=out)
    print("%s vs %s: %d requests, %d differ" % (a_path, b_path, len(set(a) | set(b)), differing),
          file=out)
    return differing


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = argv
    if os.path.isdir(a) and os.path.isdir(b):
        names = sorted({n for d in (a, b) for n in os.listdir(d) if n.endswith(".json")})
        differing = 0
        for name in names:
            pa, pb = os.path.join(a, name), os.path.join(b, name)
            if not (os.path.exists(pa) and os.path.exists(pb)):
                print("%s: only in %s" % (name, a if os.path.exists(pa) else b))
                differing += 1
                continue
            differing += compare_files(pa, pb)
        print("%d files, %d differences" % (len(names), differing))
        return 1 if differing else 0
    if os.path.isdir(a) or os.path.isdir(b):
        print("give two files or two directories", file=sys.stderr)
        return 2
    return 1 if compare_files(a, b) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
