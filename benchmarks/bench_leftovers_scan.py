"""How long `write.leftovers.clean` takes on a run of 1000 steps x 13 layers:
    python benchmarks/bench_leftovers_scan.py 150   (bytes of a value: 150 -> a 4.9 MB event file)
"""
import os, sys, tempfile, time
from tensorboard.compat.proto import event_pb2, summary_pb2
from tb_actviz.write import event_file_writer, leftovers, pixel_file_writer
from tb_actviz.format import pixel_file
d = tempfile.mkdtemp()
ev = event_file_writer.EventFileWriter(d)
px = pixel_file_writer.PixelFileWriter(d)
blob = os.urandom(int(sys.argv[1]))
for step in range(1000):
    wall = time.time()
    px.write(step, wall, [("actviz/layers/l%d" % i, [b"x"]) for i in range(13)])
    events = []
    for i in range(13):
        s = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="actviz/layers/l%d" % i,
            metadata=summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="activations", content=blob[:200])))])
        s.value[0].tensor.string_val.append(blob)
        events.append(event_pb2.Event(wall_time=wall, step=step, summary=s))
    ev.write_events(events)
ev.close()
size = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d) if n.startswith("events"))
ts = []
for _ in range(7):
    t = time.perf_counter(); r = leftovers.clean(d); ts.append(time.perf_counter() - t)
    assert r == []
print("event bytes", size, "pixel files", len(os.listdir(os.path.join(d, *pixel_file.PLUGIN_DIR))), "scan ms min/median/max", [round(x*1e3,1) for x in sorted(ts)][::3])
