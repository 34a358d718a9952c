"""How the browser tests and benchmarks/bench_tab.py launch headless Chromium."""

import os

# Flags for a machine with no network but loopback: without the background
# networking ones Chromium keeps trying hosts it cannot reach.
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_executable():
    """$TB_ACTVIZ_CHROMIUM, else Debian's /usr/bin/chromium, else None
    (Playwright's own download, as on a developer's machine)."""
    path = os.environ.get("TB_ACTVIZ_CHROMIUM")
    if path:
        return path
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return None
