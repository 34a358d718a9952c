"""Read: how bytes leave a log dir, the mirror of `capture/` -> `write/`.

`catalog` lists the activations tags of a TensorBoard data provider (the
plugin's, or the one `LogReader` opens) and each tag's steps; `blob_source`
gives a step's blobs, each checked against its metadata (`format.
blob_checks`), from the run's pixel files (`pixel_store`, located by
`pixel_store.RunLocator`) or its events (the data provider, or `event_blobs`
where the Rust data server refuses a name); `restarts` shows a restarted
training as TensorBoard's Rust data server does. No HTTP and no CLI here:
the plugin's routes (`activations_plugin`), `LogReader` (`reader`) and
`tb-actviz export` all read through this package."""
