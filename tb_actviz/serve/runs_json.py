"""The JSON of `/runs`: every run's probe, layers, kernels and attributions
as the tab's pickers need them, from the metadata alone; and of `/steps`
(docs/http_api.md)."""

from tb_actviz import metadata


def _identity(tag, md):
    """What every layer-like tag says about its layer."""
    return {
        "tag": tag,
        "path": md.layer_path,
        "index": md.layer_index,
        "class": md.layer_class,
        "filterIndices": list(md.filter_indices),
    }


def layer(tag, md):
    return dict(
        _identity(tag, md),
        outputShape=[None if d < 0 else d for d in md.output_shape],
        mapKind=md.map_kind,
        numImages=md.num_images,
        mapHeight=md.map_height,
        mapWidth=md.map_width,
        sourceHeight=md.source_height,
        sourceWidth=md.source_width,
        downsampleFactor=md.downsample_factor,
        statNames=list(md.stat_names),
        summaryNames=list(md.summary_names) if metadata.pixels_in_plugin_files(md) else [],
        stepUnit=md.step_unit,
        leadingTokens=md.leading_tokens,
    )


def kernels(tag, md):
    return dict(
        _identity(tag, md),
        numFilters=len(md.filter_indices),
        kernelHeight=md.map_height,
        kernelWidth=md.map_width,
        channels=md.channels,
    )


def attribution(tag, md):
    return {
        "tag": tag,
        "method": md.attribution_method,
        "layerPath": md.layer_path,
        "layerClass": md.layer_class,
        "numImages": md.num_images,
        "mapHeight": md.map_height,
        "mapWidth": md.map_width,
        "sourceHeight": md.source_height,
        "sourceWidth": md.source_width,
        "downsampleFactor": md.downsample_factor,
        "summaryNames": list(md.summary_names),
        "stepUnit": md.step_unit,
        "target": md.attribution_target,
        "classNames": list(md.class_names),
        "probability": md.probability,
    }


def probe(tag, md):
    return {
        "tag": tag,
        "numImages": md.num_images,
        "channels": md.channels,
        "labels": list(md.labels),
    }


def _unique_paths(layers):
    """Gives layer JSONs that share a `path` (two tags of one layer) distinct
    ones: the first keeps it, the others get " [tag]" after it; `layerPath`
    keeps the stored path."""
    seen = set()
    for entry in layers:
        entry["layerPath"] = entry["path"]
        if entry["path"] in seen:
            entry["path"] = "%s [%s]" % (entry["path"], entry["tag"])
        seen.add(entry["path"])
    return layers


def _of_kind(tags, kind, to_json, key):
    return sorted((to_json(tag, md) for tag, md in tags.items() if md.kind == kind), key=key)


def runs(listing, skipped):
    """The /runs body of a `catalog.Catalog.listing`."""
    by_identity = lambda entry: (entry["index"], entry["path"], entry["tag"])  # noqa: E731
    by_tag = lambda entry: entry["tag"]  # noqa: E731
    result = []
    for run, tags in listing.items():
        if not tags:
            continue  # every tag of the run is skipped
        probes = _of_kind(tags, metadata.Kind.PROBE, probe, by_tag)
        result.append({
            "run": run,
            "probe": probes[0] if probes else None,
            "layers": _unique_paths(_of_kind(tags, metadata.Kind.LAYER, layer, by_identity)),
            "kernels": _unique_paths(_of_kind(tags, metadata.Kind.KERNELS, kernels, by_identity)),
            "attributions": _of_kind(tags, metadata.Kind.ATTRIBUTION, attribution, by_tag),
        })
    unreadable = [
        {"run": s.run, "tag": s.tag, "reason": s.reason, "newerVersion": s.newer_version}
        for s in skipped
    ]
    return {"runs": result, "unreadable": unreadable}


def steps(sequence):
    """The /steps body of a `catalog.Sequence`."""
    return {
        "steps": [{"step": d.step, "wallTime": d.wall_time} for d in sequence.steps],
        # A string: a JSON number would not hold such steps exactly.
        "skipped": [{"step": str(d.step), "reason": reason} for d, reason in sequence.skipped],
        "hidden": [{"step": str(step), "wallTime": wall} for step, wall in sequence.hidden],
    }
