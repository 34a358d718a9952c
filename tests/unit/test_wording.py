"""The words and bounds the tab and `tb-actviz export` share come from one
place, `tb_actviz.wording`: frontend/wording.js is generated from it, and
neither side spells them out on its own."""

import ast
import os
import re
import subprocess
import sys

import pytest

from tb_actviz import wording

from paths import REPO  # noqa: E402
FRONTEND = os.path.join(REPO, "frontend")
GENERATOR = os.path.join(REPO, "tools", "gen_wording.py")


def test_the_front_end_module_is_generated_from_the_python_one():
    done = subprocess.run([sys.executable, GENERATOR, "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_stale_front_end_module_is_caught(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.dirname(GENERATOR))
    try:
        import gen_wording
    finally:
        sys.path.pop(0)
    stale = tmp_path / "wording.js"
    stale.write_text(gen_wording.source().replace(wording.PREDICTED, "guessed:"), encoding="utf-8")
    monkeypatch.setattr(gen_wording, "PATH", str(stale))
    assert gen_wording.main(["--check"]) == 1


def _sources(folder, suffix, skip):
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if name.endswith(suffix) and os.path.abspath(path) not in skip:
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, REPO), f.read()


def _python_strings(text):
    """The string literals of a module's code, its docstrings left out."""
    tree = ast.parse(text)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _js_strings(text):
    """The string literals of a module, its comments left out."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"(?m)^\s*//.*$|\s//.*$", "", text)
    return re.findall(r"""["'`]([^"'`\n]*)["'`]""", text)


SHARED_LITERALS = [wording.PREDICTED, wording.TRUE_LABEL, wording.EXPLAINED, wording.NOT_FINITE,
                   "Grad-CAM of", wording.METHOD_TEXT["saliency"]]


@pytest.mark.parametrize("side", ["front end", "python"])
def test_no_module_spells_the_shared_words_itself(side):
    if side == "front end":
        sources = _sources(FRONTEND, ".js", {os.path.join(FRONTEND, "wording.js")})
    else:
        sources = _sources(os.path.join(REPO, "tb_actviz"), ".py",
                           {os.path.abspath(wording.__file__)})
    strings = _js_strings if side == "front end" else _python_strings
    found = []
    for path, text in sources:
        for literal in strings(text):
            found += ["%s: %r" % (path, literal) for word in SHARED_LITERALS if word in literal]
        if re.search(r"= *%d\b" % wording.MAX_PROBE_SIDE, text):
            found.append("%s: %d" % (path, wording.MAX_PROBE_SIDE))
    assert not found, found
