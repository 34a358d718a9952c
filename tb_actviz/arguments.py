"""Checks of arguments that every logger takes alike."""

import numpy as np


def positive_int(name, value):
    """`value` as an int; a ValueError naming `name` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError("%s= must be a positive integer, got %r" % (name, value))
    return int(value)
