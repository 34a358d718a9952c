"""Capture: what a log takes from a model. Framework-neutral: the probe
(`probe`, `probe_display`), selecting layers by what a user types
(`selection`), token layouts (`token_grid`), the attribution options
(`attribution_options`) and the hand-off to the writer (`captured_log`).
The Keras side: its layer tree (`layer_selection`, `layer_calls`), the
forward pass and its compilation per backend (`extractor`, `backends`,
`log_capture`), kernels and attributions. The PyTorch side is
`tb_actviz.torch`."""
