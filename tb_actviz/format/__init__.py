"""Format: framework-neutral numpy code that turns captured arrays into what
is stored (geometry, statistics, 8-bit strips, PNG, the blob layout and the
plugin data), and stored blobs back into arrays. Both the writer and
`tb_actviz.reader` use it; nothing here imports Keras or TensorFlow."""
