"""What the benchmarks measure with: wall and CPU time, memory of this
process, the machine's load, the library's revision, and progress lines."""

import os
import resource
import statistics
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median(values):
    return float(statistics.median(values)) if values else float("nan")


def timed(fn):
    """(seconds, result) of `fn()`."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_seconds():
    """User + system CPU time of this process (all its threads)."""
    t = os.times()
    return t.user + t.system


def rss_mb():
    """Current resident set size of this process, MB (from /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_average():
    try:
        return "%.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        return "-"


def library_revision():
    """The repository's commit, with `-dirty` when files are modified (others
    may be changing the library while a benchmark runs)."""
    try:
        return subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "-"
    except (OSError, subprocess.SubprocessError):
        return "-"


def log(message):
    print(message, flush=True)
