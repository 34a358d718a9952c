#!/usr/bin/env bash
# Serves LOGDIR with TensorBoard and prints where to look once it answers, so
# the URL of the Activations tab is the last line on the screen.
# Usage: tools/serve_demo.sh TENSORBOARD LOGDIR PORT
set -euo pipefail
tensorboard=$1 logdir=$2 port=$3
"$tensorboard" --logdir "$logdir" --host 127.0.0.1 --port "$port" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; exit 0' INT TERM
for _ in $(seq 1 240); do
  if ! kill -0 "$server" 2>/dev/null; then
    wait "$server"; exit $?  # it exited (port in use?): its message is above
  fi
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/data/plugins_listing', timeout=2)" 2>/dev/null; then
    echo
    echo "Activations tab: http://127.0.0.1:$port/#activations   (Ctrl-C to stop)"
    break
  fi
  sleep 0.5
done
wait "$server"
