"""The tab's ES modules as one module, built in memory by the plugin.

The front end stays plain ES modules with no build step (frontend/); the
browser, though, loads an import graph one level at a time, and each of the
~40 files is a request to TensorBoard's server. `build` joins the graph of an
entry module into one ES module: each module becomes a function scope, run in
the order the browser would evaluate the modules (depth first, imports in
source order), its imports read from the scopes already run and its exports
returned. Only the module syntax the tab uses is taken; anything else is a
`BundleError` naming file and line, and the plugin then serves the files
unbundled (index.js falls back to them):

- `import { a, b as c } from "./relative/path.js";` (one statement, one or
  more lines, at the start of a line);
- `export function`, `export async function`, `export class`,
  `export const` of one name.

Not taken: default, namespace and side-effect imports, `export { ... }`,
`export default`, `export let` / `var` (a live binding would be copied),
`import()` and `import.meta` (they would resolve against the bundle's URL),
import cycles.
"""

import collections
import gzip
import os
import posixpath
import re

# The variable holding module k's exports in the bundle; no module may use the prefix.
_PREFIX = "__actviz_"
_IDENTIFIER = r"[A-Za-z_$][\w$]*"
_IMPORT = re.compile(r'^import[ \t]*\{([^}]*)\}[ \t]*from[ \t]*"([^"\n]+)"[ \t]*;?[ \t]*$', re.M)
_IMPORT_NAME = re.compile(r"^(%s)(?:\s+as\s+(%s))?$" % (_IDENTIFIER, _IDENTIFIER))
_EXPORT = re.compile(
    r"^export[ \t]+(?=((?:async[ \t]+)?function\b[ \t]*\*?[ \t]*|class[ \t]+|const[ \t]+)(%s)?)" % _IDENTIFIER,
    re.M)
_MODULE_SYNTAX = re.compile(r"^[ \t]*(?:import|export)\b.*$", re.M)
_DYNAMIC = re.compile(r"\bimport\s*\(|\bimport\.meta\b")


class BundleError(ValueError):
    """Module source the bundler does not take (the message names file and line)."""


class Module(collections.namedtuple("Module", "path source imports exports")):
    """One parsed module.

    Attributes:
      path: relative to the root, with "/".
      source: its text.
      imports: [(statement span, resolved path, [(imported, local)])], in source order.
      exports: exported names, in source order.
    """


def _line(source, offset):
    return source.count("\n", 0, offset) + 1


def _resolve(importer, specifier, where):
    if not specifier.startswith(("./", "../")) or not specifier.endswith(".js"):
        raise BundleError("%s: imports %r: only relative paths to .js files are bundled"
                          % (where, specifier))
    path = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
    if path.startswith("../") or path == "..":
        raise BundleError("%s: imports %r, outside the front end" % (where, specifier))
    return path


def parse(path, source):
    """The `Module` of `source` (the file `path`, relative to the root)."""
    if _PREFIX in source:
        raise BundleError("%s: uses %r, the bundler's own prefix" % (path, _PREFIX))
    imports = []
    for match in _IMPORT.finditer(source):
        where = "%s:%d" % (path, _line(source, match.start()))
        names = []
        for part in match.group(1).split(","):
            part = part.strip()
            if not part:
                continue
            name = _IMPORT_NAME.match(part)
            if not name:
                raise BundleError("%s: cannot bundle the import %r" % (where, part))
            names.append((name.group(1), name.group(2) or name.group(1)))
        imports.append((match.span(), _resolve(path, match.group(2), where), names))
    exports = []
    for match in _EXPORT.finditer(source):
        if match.group(2) is None:
            raise BundleError("%s:%d: cannot bundle this export (one named function, class or "
                              "const only)" % (path, _line(source, match.start())))
        exports.append(match.group(2))
    if len(set(exports)) != len(exports):
        raise BundleError("%s: exports a name twice" % path)
    taken = [span for span, _, _ in imports] + [m.span() for m in _EXPORT.finditer(source)]
    for match in _MODULE_SYNTAX.finditer(source):
        if not any(start <= match.start() < end or match.start() == start for start, end in taken):
            raise BundleError("%s:%d: module syntax the bundler does not take: %s"
                              % (path, _line(source, match.start()), match.group(0).strip()[:80]))
    for number, text in enumerate(source.splitlines(), 1):
        code = text.strip()
        if code.startswith(("//", "*", "/*")):
            continue
        if _DYNAMIC.search(code):
            raise BundleError("%s:%d: import() or import.meta would resolve against the "
                              "bundle's URL" % (path, number))
    return Module(path, source, imports, exports)


def graph(root, entry):
    """The modules `entry` reaches (paths relative to `root`), in the order a
    browser evaluates them: depth first, imports in source order, each after
    the modules it imports."""
    modules = {}
    order = []
    visiting = []

    def visit(path, importer):
        if path in modules:
            return
        if path in visiting:
            cycle = visiting[visiting.index(path):] + [path]
            raise BundleError("import cycle: %s" % " -> ".join(cycle))
        filename = os.path.join(root, *path.split("/"))
        if not os.path.isfile(filename):
            raise BundleError("%s imports %s: no such file" % (importer, path))
        with open(filename, encoding="utf-8") as f:
            module = parse(path, f.read())
        visiting.append(path)
        for _, dependency, _ in module.imports:
            visit(dependency, path)
        visiting.pop()
        modules[path] = module
        order.append(module)

    visit(entry, "the entry")
    for module in order:
        for _, dependency, names in module.imports:
            missing = [name for name, _ in names if name not in modules[dependency].exports]
            if missing:
                raise BundleError("%s imports %s from %s, which does not export %s"
                                  % (module.path, ", ".join(missing), dependency,
                                     "them" if len(missing) > 1 else "it"))
    return order


def _body(module, variables):
    """The module's source with its imports read from `variables` and `export ` dropped."""
    source = module.source
    edits = [(span, "const { %s } = %s;" % (
        ", ".join(name if name == local else "%s: %s" % (name, local) for name, local in names),
        variables[dependency]) + "\n" * source.count("\n", *span))  # keeps the line count
        for span, dependency, names in module.imports]
    edits += [(match.span(), "") for match in _EXPORT.finditer(source)]
    out = []
    position = 0
    for (start, end), text in sorted(edits):
        out.append(source[position:start])
        out.append(text)
        position = end
    out.append(source[position:])
    return "".join(out)


class Bundle(collections.namedtuple("Bundle", "text gzipped paths")):
    """A built bundle: `text` (str), `gzipped` (bytes), `paths`: the modules in it, in order."""


def build(root, entry):
    """The `Bundle` of `entry`'s import graph under `root`.

    The bundle exports what `entry` exports, and `MODULES`: every module's
    exports by path (what tests compare with the files loaded one by one).
    """
    order = graph(root, entry)
    variables = {module.path: "%sm%d" % (_PREFIX, k) for k, module in enumerate(order)}
    parts = ["// The tab's modules as one (tb_actviz/serve/bundle.py); the sources are frontend/%s\n"
             "// and the files it imports, served one by one under static/.\n" % entry]
    for module in order:
        parts.append("\n// ---- %s ----\nconst %s = (() => {\n%s\nreturn Object.freeze({ __proto__: null, %s });\n})();\n"
                     % (module.path, variables[module.path], _body(module, variables).rstrip("\n"),
                        ", ".join(module.exports)))
    last = variables[entry]
    parts.append("\nexport const { %s } = %s;\n" % (", ".join(order[-1].exports), last))
    parts.append("export const MODULES = Object.freeze({ __proto__: null, %s });\n" % ", ".join(
        '"%s": %s' % (module.path, variables[module.path]) for module in order))
    text = "".join(parts)
    return Bundle(text, gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0),
                  [module.path for module in order])


def sources(root):
    """(path, mtime_ns, size) of every .js file under `root`: when it changes, rebuild."""
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".js"):
                stat = os.stat(os.path.join(folder, name))
                found.append((os.path.relpath(os.path.join(folder, name), root), stat.st_mtime_ns,
                              stat.st_size))
    return sorted(found)
