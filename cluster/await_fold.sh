#!/bin/sh
# await_fold.sh RUN_DIR SUBMITIT_FOLDER POLL_S: wait, without a Python interpreter, for a fold that
# `fixclr submit --watch` handed to its sweep's poller (cluster/poller.py). Exits 0 once the fold's
# `done` exists, 1 once the poller wrote its `failed` marker (printed). If no poller holds the
# folder's lock, one is started again (the lock is checked before the markers, so a poller that
# wrote this fold's marker and exited is never mistaken for a lost one).
run_dir=$1 folder=$2 poll_s=$3
while :; do
    poller_gone=no
    if flock -n "$folder/poller.lock" true; then
        poller_gone=yes
    fi
    [ -e "$run_dir/done" ] && exit 0
    if [ -e "$run_dir/failed" ]; then
        cat "$run_dir/failed"
        exit 1
    fi
    if [ "$poller_gone" = yes ]; then
        python -m cluster.poller --ensure "$folder"
    fi
    sleep "$poll_s"
done
