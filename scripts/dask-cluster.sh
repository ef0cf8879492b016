#!/usr/bin/env bash
# A Dask cluster for `ybsensor replay --scheduler`: a scheduler and N single-threaded
# workers on one host, each a process of its own (no nanny: a worker that dies stays dead,
# and the scheduler gives its tasks to the others).
#
#   scripts/dask-cluster.sh start DIR [WORKERS] [HOST] [PORT]   # prints the scheduler address
#   scripts/dask-cluster.sh stop DIR
#
# DIR keeps the pid files and logs. HOST defaults to 127.0.0.1 (nothing listens beyond
# this machine); PORT to 0 (any free port; the address is read back from the scheduler
# file). On other machines, start workers with:
#   dask worker tcp://SCHEDULER:PORT --nthreads 1 --no-nanny
# The files to replay and the configuration must be at the same path on every worker.
set -euo pipefail

dask=${DASK:-dask}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [WORKERS] [HOST] [PORT]" >&2; exit 2; }

case "$cmd" in
start)
    workers=${3:-2}
    host=${4:-127.0.0.1}
    port=${5:-0}
    mkdir -p "$dir"
    rm -f "$dir/scheduler.json"
    "$dask" scheduler --host "$host" --port "$port" --no-dashboard --no-show \
        --scheduler-file "$dir/scheduler.json" > "$dir/scheduler.log" 2>&1 &
    echo $! > "$dir/scheduler.pid"
    for _ in $(seq 200); do
        [ -s "$dir/scheduler.json" ] && break
        sleep 0.1
    done
    [ -s "$dir/scheduler.json" ] || { echo "the scheduler did not start: $dir/scheduler.log" >&2; exit 1; }
    address=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' \
              "$dir/scheduler.json")
    for k in $(seq "$workers"); do
        "$dask" worker "$address" --nthreads 1 --no-nanny --no-dashboard --host "$host" \
            --name "worker-$k" > "$dir/worker-$k.log" 2>&1 &
        echo $! > "$dir/worker-$k.pid"
    done
    echo "$address"
    ;;
stop)
    for f in "$dir"/worker-*.pid "$dir/scheduler.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$f"
    done
    ;;
*)
    echo "usage: $0 start|stop DIR [WORKERS] [HOST] [PORT]" >&2
    exit 2
    ;;
esac
