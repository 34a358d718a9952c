"""Token outputs shown as maps: `ActivationLogger(token_grid=...)`.

A `(batch, tokens, channels)` output whose tokens are a vision transformer's
patches, after a few leading tokens (a class token, registers), is stored as
`height x width` maps per channel: the tokens after the leading ones laid
out row-major as the patch grid (the order in which a `Reshape` of the
patch-embedding convolution's `(H/p, W/p, C)` output lists them). The
leading tokens are left out of the maps; the metadata says how many
(docs/format.md, "Map kinds": `token_grid`). Any other layer output is
stored as before (a `(tokens, channels)` output not laid out is a
`sequence`).

`token_grid=`:

- None (default): automatic, only where the model leaves no doubt: the
  model has a patch-embedding convolution (a Conv2D whose kernel size ==
  strides > 1, no padding, no dilation: an entry's `patch_grid`) called
  before the layer, and the layer's token
  count is that convolution's output grid (`gh * gw > 1` tokens), with no
  leading token or one (a class token). Exactly one such layout must fit;
  else the layer stays a sequence.
- False: no layer is laid out (every token output stays a sequence).
- True, or `TokenGrid(height=None, width=None, leading=None)`: every logged
  `(tokens, channels)` layer is laid out; a field left None is inferred
  from the layer's token count (below), and a layer no grid fits is a
  ValueError at train begin that names the grids that would.
- A dict `{layers= item: TokenGrid | True | False}`: per layer (names,
  paths, globs, `"conv:k"`, indices, Layer objects, as `layers=` takes
  them); the layers it names must be logged; the others are automatic.

Inference for `TokenGrid` fields left None, for a layer of T tokens:
height and width given: `leading = T - height * width`. Only `leading`:
the `T - leading` tokens are a patch-embedding convolution's grid of that
many tokens, else a square. Nothing (`True`): a patch-embedding grid with
at most 16 tokens left over (they lead), else the largest square grid
(at least 2 x 2) with at most 16 tokens left over.
"""

import dataclasses
import math

import numpy as np

# Leading tokens the automatic rule allows: none, or a class token.
AUTOMATIC_LEADING = (0, 1)
# Leading tokens a layout inferred from a patch-embedding grid allows
# (a class token and registers).
MAX_INFERRED_LEADING = 16


def _is_count(value, low):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low


@dataclasses.dataclass(frozen=True)
class TokenGrid:
    """How `ActivationLogger(token_grid=...)` lays a `(tokens, channels)`
    output out as maps: `leading` tokens left out, then `height x width`
    tokens in row-major order (a ViT's patch grid).

    Args:
      height, width: the grid, in tokens (both or neither). None: inferred
        from the layer's token count (and the model's patch-embedding
        convolution).
      leading: tokens before the grid (a class token, registers), left out
        of the maps. None: the tokens the grid leaves over.

    `TokenGrid(14, 14, leading=1)` is ViT-B/16's at 224 x 224 (197 tokens);
    `TokenGrid(leading=1)` infers the grid; `TokenGrid()` infers both.

    Raises:
      ValueError: height without width (or the reverse), a size below 1,
        a grid of one token, a negative `leading`.
    """

    height: object = None
    width: object = None
    leading: object = None

    def __post_init__(self):
        if (self.height is None) != (self.width is None):
            raise ValueError(
                "TokenGrid: give height and width together (or neither, to infer the grid); "
                "got height=%r, width=%r" % (self.height, self.width))
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None and not _is_count(value, 1):
                raise ValueError("TokenGrid(%s=) must be a positive integer, got %r" % (name, value))
        if self.height is not None and self.height * self.width < 2:
            raise ValueError("TokenGrid: a grid of %d x %d tokens is no map: give at least 2 tokens"
                             % (self.height, self.width))
        if self.leading is not None and not _is_count(self.leading, 0):
            raise ValueError("TokenGrid(leading=) must be an integer >= 0, got %r" % (self.leading,))


def parse(token_grid, layer_types=()):
    """The `token_grid=` argument, checked: None (automatic), False, a
    `TokenGrid` (True is `TokenGrid()`), or a dict of layer selectors (or
    layers: instances of `layer_types`) to `TokenGrid` or False.

    Raises:
      TypeError: a value of another kind.
    """
    if token_grid is None or token_grid is False:
        return token_grid
    if token_grid is True:
        return TokenGrid()
    if isinstance(token_grid, TokenGrid):
        return token_grid
    if isinstance(token_grid, dict):
        if not token_grid:
            raise ValueError("token_grid= is an empty dict: pass None for the automatic layout")
        parsed = {}
        for key, value in token_grid.items():
            if not isinstance(key, (str, int, np.integer) + tuple(layer_types)) or isinstance(key, bool):
                raise TypeError(
                    "token_grid= dict keys select layers as layers= items do (a name, path, glob, "
                    "'conv:k', index or Layer); got %r" % (key,))
            if value is True:
                value = TokenGrid()
            if not (value is False or isinstance(value, TokenGrid)):
                raise TypeError(
                    "token_grid= dict values must be tb_actviz.TokenGrid(...), True (inferred) or "
                    "False (a sequence); got %r for %r" % (value, key))
            parsed[key] = value
        return parsed
    raise TypeError(
        "token_grid= must be None (automatic), True, False, tb_actviz.TokenGrid(height, width, "
        "leading=...) or a dict {layer: TokenGrid}; got %r" % (token_grid,))


def _patch_grids_before(entry, entries):
    """The patch-embedding grids of the model's convolutions called before
    `entry` (all of them where the call order is unknown), each once."""
    order = getattr(entry, "call_order", None)
    grids = []
    for candidate in entries:
        grid = candidate.patch_grid
        if grid is None or grid in grids:
            continue
        before = getattr(candidate, "call_order", None)
        if order is not None and before is not None and before >= order:
            continue
        grids.append(grid)
    return grids


def token_count(entry, channels_first):
    """The token count of a `(tokens, channels)` output, or None for an
    output of another rank."""
    shape = entry.output_shape
    if shape is None or len(shape) != 2:
        return None
    return shape[1] if channels_first else shape[0]


def automatic(tokens, grids):
    """(leading, height, width) where exactly one patch-embedding grid
    holds the tokens after none or one leading token; else None."""
    fits = {(leading, h, w) for h, w in grids for leading in AUTOMATIC_LEADING
            if h * w > 1 and tokens - leading == h * w}
    return fits.pop() if len(fits) == 1 else None


def _square_side(count):
    side = math.isqrt(count) if count > 0 else 0
    return side if side >= 2 and side * side == count else None


def _infer(grid, tokens, grids):
    """`grid`'s layout of `tokens` tokens, its None fields inferred; None
    where it cannot be."""
    if grid.height is not None:
        leading = tokens - grid.height * grid.width
        if leading < 0 or (grid.leading is not None and grid.leading != leading):
            return None
        return leading, grid.height, grid.width
    if grid.leading is not None:
        count = tokens - grid.leading
        from_patches = {(h, w) for h, w in grids if h * w == count}
        if len(from_patches) == 1:
            return (grid.leading,) + from_patches.pop()
        side = _square_side(count)
        return None if side is None else (grid.leading, side, side)
    from_patches = sorted((tokens - h * w, h, w) for h, w in grids
                          if h * w > 1 and 0 <= tokens - h * w <= MAX_INFERRED_LEADING)
    if from_patches and (len(from_patches) == 1 or from_patches[0][0] < from_patches[1][0]):
        return from_patches[0]
    side = math.isqrt(tokens)
    if side < 2 or tokens - side * side > MAX_INFERRED_LEADING:
        return None
    return tokens - side * side, side, side


def suggestions(tokens, grids, limit=3):
    """Up to `limit` `TokenGrid`s that lay out `tokens` tokens: patch-
    embedding grids, then squares, with the fewest leading tokens first."""
    found = []
    for h, w in grids:
        if h * w > 1 and 0 <= tokens - h * w <= MAX_INFERRED_LEADING:
            found.append((tokens - h * w, h, w))
    for leading in range(0, MAX_INFERRED_LEADING + 1):
        side = _square_side(tokens - leading)
        if side is not None:
            found.append((leading, side, side))
    found = sorted(dict.fromkeys(found))
    return [TokenGrid(h, w, leading=leading) for leading, h, w in found[:limit]]


def _forced(grid, entry, tokens, grids):
    layout = _infer(grid, tokens, grids)
    if layout is not None:
        return layout
    fits = suggestions(tokens, grids)
    hint = ("; %s would lay it out" % " or ".join(repr(g) for g in fits) if fits
            else "; no grid of 2 or more tokens fits with up to %d leading tokens" % MAX_INFERRED_LEADING)
    raise ValueError(
        "token_grid=: layer %r has %d tokens (output shape %s), which %r does not lay out%s. "
        "token_grid={%r: False} keeps it a sequence."
        % (entry.path, tokens, tuple(entry.output_shape), grid, hint, entry.path))


def _dict_values(spec, logged, resolve_one):
    """{logged layer path: TokenGrid or False} of a dict `token_grid=`."""
    logged_paths = {e.path for e in logged}
    values, named_by = {}, {}
    for key, value in spec.items():
        matched = resolve_one(key)
        chosen = [e for e in matched if e.path in logged_paths]
        if not chosen:
            raise ValueError(
                "token_grid=: %r selects %s, which layers= does not log: add it to layers= (or "
                "drop it from token_grid=)" % (key, ", ".join(e.path for e in matched)))
        is_pattern = isinstance(key, str) and any(c in key for c in "*?[")
        if is_pattern:
            chosen = [e for e in chosen if e.output_shape is not None and len(e.output_shape) == 2]
            if not chosen:
                raise ValueError(
                    "token_grid=: %r selects no logged layer with a (tokens, channels) output" % (key,))
        for e in chosen:
            if e.output_shape is None or len(e.output_shape) != 2:
                raise ValueError(
                    "token_grid=: %r selects %s, whose output %s is not (tokens, channels): only "
                    "a (batch, tokens, channels) output is laid out as a grid"
                    % (key, e.path, None if e.output_shape is None else tuple(e.output_shape)))
            if e.path in values and values[e.path] != value:
                raise ValueError("token_grid=: layer %s is named by both %r and %r, with different "
                                 "layouts" % (e.path, named_by[e.path], key))
            values[e.path], named_by[e.path] = value, key
    return values


def layout(spec, entry, channels_first, entries, logged, resolve_one):
    """A logged layer's token layout: (leading, height, width), or None
    (stored as its rank says: a `(tokens, channels)` output a sequence).

    Args:
      spec: the parsed `token_grid=` (`parse`).
      entry: the logged layer's `LayerEntry`.
      channels_first: whether its output's channel axis comes first.
      entries: the model's `walk_layers` listing (shapes and call order
        from the traced pass), where the patch-embedding convolutions are.
      logged: the `LayerEntry`s of every logged layer (for a dict's keys).
      resolve_one: a `layers=` item -> the entries it selects (for a
        dict's keys).

    Raises:
      ValueError: a layout asked for does not fit the layer's tokens (the
        message names one that would), or a dict key names a layer that is
        not logged or not a token output.
    """
    if spec is False:
        return None
    value = None  # automatic
    if isinstance(spec, TokenGrid):
        value = spec
    elif isinstance(spec, dict):
        value = _dict_values(spec, logged, resolve_one).get(entry.path)
        if value is False:
            return None
    tokens = token_count(entry, channels_first)
    if tokens is None:
        return None
    grids = _patch_grids_before(entry, entries)
    if value is None:
        return automatic(tokens, grids)
    return _forced(value, entry, tokens, grids)
