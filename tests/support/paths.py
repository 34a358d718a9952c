"""Where things are, for tests wherever they sit under tests/."""

import os

SUPPORT = os.path.dirname(os.path.abspath(__file__))  # tests/support: helpers, workers
TESTS = os.path.dirname(SUPPORT)
REPO = os.path.dirname(TESTS)
BENCHMARKS = os.path.join(REPO, "benchmarks")
EXAMPLES = os.path.join(REPO, "examples")
FRONTEND = os.path.join(REPO, "frontend")


def script(name):
    """The path of a worker script in tests/support/ (run as `python PATH ...`;
    its folder is then on its sys.path, so it imports its neighbours)."""
    return os.path.join(SUPPORT, name)
