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

    `map_shares` spreads work over a small pool (deflate and numpy's large
    loops release the GIL, so a log's layers or PNGs encode in parallel).

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

    @property
    def threads(self):
        """The encoding threads of `map_shares`, the calling thread included."""
        return self._shares

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

    def map_shares(self, fn, items, cost=None):
        """`fn(share)` for one share of `items` per encoding thread, the
        calling thread being one of them; the results of the lists it
        returns, in the order of `items`.

        Without `cost`, the shares are contiguous and even in count (slices:
        views of an array). With `cost` (item -> a number), items go to the
        share with the least cost so far, largest first, and `items` must
        be a list.
        """
        if cost is None:
            size = max(1, -(-len(items) // self._shares))
            shares = [items[i:i + size] for i in range(0, len(items), size)]
            places = None
        else:
            costs = [cost(item) for item in items]
            places = [[] for _ in range(min(self._shares, len(items)))]
            loads = [0] * len(places)
            for i in sorted(range(len(items)), key=lambda i: -costs[i]):
                lightest = loads.index(min(loads))
                places[lightest].append(i)
                loads[lightest] += costs[i]
            shares = [[items[i] for i in share] for share in places]
        try:
            others = [self._helpers.submit(fn, share) for share in shares[1:]]
        except RuntimeError:  # the interpreter is exiting: no new threads' work
            results = [fn(share) for share in shares]
        else:
            first = fn(shares[0]) if shares else []
            results = [first] + [future.result() for future in others]
        if places is None:
            return [r for share in results for r in share]
        ordered = [None] * len(items)
        for share, share_results in zip(places, results):
            for i, r in zip(share, share_results):
                ordered[i] = r
        return ordered

    def close(self):
        """Lets the job in flight finish, then stops the threads."""
        self._worker.shutdown(wait=True)
        self._helpers.shutdown(wait=True)
