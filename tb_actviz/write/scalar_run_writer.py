"""The scalars' event files, one per run directory, written on a
background thread (`ScalarLogger`'s writer)."""

import time

from tb_actviz.write import background
from tb_actviz.write import event_file_writer
from tb_actviz.write import failure_policy

# Batch scalars are written at most this often (and at every epoch end): a
# remote event file is uploaded whole at every write.
FLUSH_SECONDS = 1.0
REMOTE_FLUSH_SECONDS = 10.0


class ScalarRunWriter:
    """The scalars' event files (one per run directory), written on a
    background thread, one batch of events at a time; counts failed writes.

    Events wait in `add` until `submit`: the previous write is collected
    first (its failure warned about), so at most one write is in flight.
    """

    def __init__(self, run_dirs, remote):
        self._run_dirs = run_dirs
        self._flush_seconds = REMOTE_FLUSH_SECONDS if remote else FLUSH_SECONDS
        self._files = {}
        self._pending = {run: [] for run in run_dirs}
        self._worker = background.BackgroundWorker(encode_threads=1)
        self._in_flight = False
        self._last_submit = time.monotonic()
        self._failures = failure_policy.FailurePolicy(subject="scalar logging", action="write scalars")

    @property
    def disabled(self):
        return self._failures.disabled

    def add(self, run, events):
        if not self.disabled:
            self._pending[run].extend(events)

    def submit_if_due(self):
        if time.monotonic() - self._last_submit >= self._flush_seconds:
            self.submit()

    def submit(self):
        """Starts writing what was added, after the write in flight."""
        self._last_submit = time.monotonic()
        self.collect()
        batches = [(run, events) for run, events in self._pending.items() if events]
        if self.disabled or not batches:
            return
        self._pending = {run: [] for run in self._run_dirs}
        try:
            self._worker.submit(lambda: self._write(batches))
        except Exception as e:  # noqa: BLE001 - the interpreter is exiting: no new threads
            self._failures.failed("to the event files", e)
            return
        self._in_flight = True

    def collect(self):
        """Waits for the write in flight and counts its outcome."""
        if not self._in_flight:
            return
        self._in_flight = False
        try:
            self._worker.wait()
        except Exception as e:  # noqa: BLE001 - a logging fault must not cost the training run
            self._failures.failed("to the event files", str(e) if isinstance(e, WriteFailed) else e)
            return
        self._failures.succeeded()

    def close(self):
        """Writes what was added, then closes the event files and the thread."""
        try:
            self.submit()
            self.collect()
        finally:
            self._worker.close()
            for writer in self._files.values():
                writer.close()
            self._files = {}

    def _write(self, batches):
        """The background job: each run's events, whatever befell the other
        run's. Creating a run's writer makes its directory; a writer whose
        file went away starts a new one at its next write."""
        failures = []
        for run, events in batches:
            try:
                writer = self._files.get(run)
                if writer is None:
                    writer = event_file_writer.EventFileWriter(self._run_dirs[run])
                    self._files[run] = writer
                writer.write_events(events)
            except Exception as e:  # noqa: BLE001 - reported by `collect`, never raised to training
                failures.append("%s (%s): %s: %s" % (
                    self._run_dirs[run], _steps(events), type(e).__name__, e))
        if failures:
            raise WriteFailed("; ".join(failures))


class WriteFailed(Exception):
    """What a write of the scalars lost, run by run."""


def _steps(events):
    steps = sorted({e.step for e in events})
    return "step %d" % steps[0] if len(steps) == 1 else "steps %d to %d" % (steps[0], steps[-1])
