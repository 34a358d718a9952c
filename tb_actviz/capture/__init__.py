"""Capture: the Keras side. Layer selection, the probe, the extractor, and
each backend's compile and "who writes" rules (`backends`)."""
