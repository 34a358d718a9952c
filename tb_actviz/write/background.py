"""A worker thread for one log's formatting and writing, off the training
thread, one job at a time."""

import concurrent.futures
import os
import sys
import threading

LOWEST_PRIORITY = 19


def _lower_this_threads_priority():
    """Makes the calling thread yield the CPU to training (Linux, where a
    thread's id is a scheduling entity; elsewhere nothing changes)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
        except OSError:
            pass


class BackgroundWorker:
    """Runs jobs on a worker thread, at most one job in flight.

    `submit` first waits for the previous job, so the callback never holds more
    than one log's activations; a job's exception is raised to the caller of
    `wait` (or of the next `submit`) rather than lost.

    `map_shares` spreads work over a small pool (zlib and numpy's large loops
    release the GIL, so PNG encoding runs in parallel).

    On Linux the threads run at the lowest CPU priority (nice 19): on a CPU
    that training keeps busy, training goes first and the writing fills the
    gaps (measured on 2 cores: a writer kept busy cut training throughput by
    a third at normal priority, not measurably at nice 19).
    """

    def __init__(self, encode_threads=2):
        self._shares = encode_threads
        self._worker = concurrent.futures.ThreadPoolExecutor(
            1, "tb_actviz_worker", initializer=_lower_this_threads_priority
        )
        self._helpers = concurrent.futures.ThreadPoolExecutor(
            max(1, encode_threads - 1), "tb_actviz_encoder",
            initializer=_lower_this_threads_priority,
        )
        self._pending = None

    def submit(self, job):
        """Starts `job()` in the background once the previous job is done
        (whose error, if any, this raises instead)."""
        self.wait()
        self._pending = self._worker.submit(job)

    def run_first(self, job):
        """Queues `job()` ahead of every later job without making `submit` or
        `wait` wait for it; `job` must not raise (its result is dropped)."""
        try:
            self._worker.submit(job)
        except RuntimeError:  # the interpreter is exiting: no new threads
            pass

    def wait(self):
        """Waits for the job in flight; returns its result or raises its error."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else None

    def map_shares(self, fn, items):
        """`fn(share)` for one contiguous share of `items` (a list or an
        array) per encoding thread, the calling thread being one of them; the
        lists it returns, concatenated."""
        size = max(1, -(-len(items) // self._shares))
        shares = [items[i:i + size] for i in range(0, len(items), size)]
        try:
            others = [self._helpers.submit(fn, share) for share in shares[1:]]
        except RuntimeError:  # the interpreter is exiting: no new threads' work
            return [r for share in shares for r in fn(share)]
        first = fn(shares[0]) if shares else []
        return first + [r for future in others for r in future.result()]

    def close(self):
        """Lets the job in flight finish, then stops the threads."""
        self._worker.shutdown(wait=True)
        self._helpers.shutdown(wait=True)
