#!/usr/bin/env bash
# Makes sure a Chromium for the browser tests exists. Playwright's own browser
# download does not work on machines without internet; Debian's package does.
set -euo pipefail
if [ -n "${TB_ACTVIZ_CHROMIUM:-}" ] && [ -x "$TB_ACTVIZ_CHROMIUM" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing Debian's chromium for the browser tests..."
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  exit 0
fi
echo "No chromium found: install it (apt-get install chromium) or set" \
     "TB_ACTVIZ_CHROMIUM to a Chromium binary; or run 'playwright install chromium'." >&2
exit 1
