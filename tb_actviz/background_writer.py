"""Encoding and writing off the training thread, one log at a time."""

import concurrent.futures


class BackgroundWriter:
    """Runs write jobs on a worker thread, at most one job in flight.

    `submit` first waits for the previous job, so the callback never holds more
    than one log's activations; a job's exception is raised to the caller of
    `wait` (or of the next `submit`) rather than lost.

    `encode_map` spreads work over a small pool (zlib releases the GIL, so PNG
    encoding runs in parallel).
    """

    def __init__(self, encode_threads=2):
        self._worker = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="tb_actviz_writer"
        )
        self._encoders = concurrent.futures.ThreadPoolExecutor(
            encode_threads, thread_name_prefix="tb_actviz_encoder"
        )
        self._pending = None

    def submit(self, job):
        """Starts `job()` in the background once the previous job is done
        (whose error, if any, this raises instead)."""
        self.wait()
        self._pending = self._worker.submit(job)

    def wait(self):
        """Waits for the job in flight; returns its result or raises its error."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else None

    def encode_map(self, fn, items):
        return list(self._encoders.map(fn, items))

    def close(self):
        """Lets the job in flight finish, then stops the threads."""
        self._worker.shutdown(wait=True)
        self._encoders.shutdown(wait=True)
