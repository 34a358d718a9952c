"""What the tab and `tb-actviz export` both say, and the bounds both check,
defined once. The front end reads them from `frontend/wording.js`, which
`tools/gen_wording.py` writes from this module (a test keeps it in step)."""

# What a step counts, as the run was logged ("epoch 12", "batch 300"); a run
# that does not say counts "step".
STEP_UNITS = ("epoch", "batch")
UNKNOWN_STEP_UNIT = "step"

# Between the parts of a heading: "train · conv1 · epoch 3".
SEPARATOR = " · "

# Attribution maps, per method: "Grad-CAM of conv4".
METHOD_TEXT = {
    "grad_cam": "Grad-CAM of {layer}",
    "saliency": "saliency (|d score / d input|)",
}

# What the model predicted for a probe image, as phrases a caption breaks
# between: "predicted: face 0.93" "(true: face)", or "(explained: owl 0.12)"
# for a fixed class; "predicted: not finite" where its output was NaN or
# infinite; "?" for a class or score that is not finite.
PREDICTED = "predicted:"
TRUE_LABEL = "(true:"
EXPLAINED = "(explained:"
NOT_FINITE = "not finite"
UNKNOWN_VALUE = "?"
SCORE_DIGITS = 2

# The largest side of a stored probe image the readers decode.
MAX_PROBE_SIDE = 4096


def step_unit(unit):
    """The unit a step is worded in: `unit` if a log says it, else "step"."""
    return unit if unit in STEP_UNITS else UNKNOWN_STEP_UNIT


def step_text(unit, step):
    """"epoch 12", "batch 300", or "step 12" where the log does not say."""
    return "%s %d" % (step_unit(unit), step)


def score_text(value, finite):
    return "%.*f" % (SCORE_DIGITS, value) if finite else UNKNOWN_VALUE


def method_text(method, layer):
    return METHOD_TEXT[method].format(layer=layer) if method in METHOD_TEXT else method


def front_end_constants():
    """What `frontend/wording.js` exports, by name."""
    return {
        "STEP_UNITS": list(STEP_UNITS),
        "UNKNOWN_STEP_UNIT": UNKNOWN_STEP_UNIT,
        "SEPARATOR": SEPARATOR,
        "METHOD_TEXT": METHOD_TEXT,
        "PREDICTED": PREDICTED,
        "TRUE_LABEL": TRUE_LABEL,
        "EXPLAINED": EXPLAINED,
        "NOT_FINITE": NOT_FINITE,
        "UNKNOWN_VALUE": UNKNOWN_VALUE,
        "SCORE_DIGITS": SCORE_DIGITS,
        "MAX_PROBE_SIDE": MAX_PROBE_SIDE,
    }
