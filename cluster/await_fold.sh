#!/bin/sh
# await_fold.sh FOLD_YAML SUBMITIT_FOLDER POLL_S: the workflow's train rule. Hands the fold to its
# sweep's poller (cluster/poller.py) and waits for it without a Python interpreter: exits 0 once
# the fold's `done` exists, 1 once the poller wrote its `failed` marker (printed).
# A SLURM fold is handed over as a watch entry written here (the poller skips it if done,
# re-attaches to its job or submits it with its wave); any other fold goes through
# `fixclr submit --watch` (which starts local folds, and refuses a local fold under the SLURM
# executor). If no poller holds the folder's lock, one is started; the lock is checked before the
# markers, so a poller that wrote this fold's marker and exited is never mistaken for a lost one.
fold_yaml=$1 folder=$2 poll_s=$3
run_dir=$(dirname "$fold_yaml")
abs=$(realpath "$fold_yaml")
case "$abs$PWD" in
    *[\"\\]*) json_safe=no ;;
    *) json_safe=yes ;;
esac
if [ "$json_safe" = yes ] && grep -q '^  cluster: slurm$' "$fold_yaml"; then
    rm -f "$run_dir/failed"
    mkdir -p "$folder/watch"
    entry="$folder/watch/$(printf %s "$abs" | sha1sum | cut -c1-40).json"
    printf '{"fold_yaml": "%s", "cwd": "%s", "submit": true}\n' "$abs" "$PWD" > "$entry.tmp"
    mv "$entry.tmp" "$entry"
    echo "handed to the sweep's poller: $run_dir"
else
    fixclr submit "$fold_yaml" --watch || exit 1
fi
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
    if [ "$poller_gone" = yes ]; then  # a second poller started at the same time exits at once
        setsid python -m cluster.poller "$folder" >> "$folder/poller.log" 2>&1 < /dev/null &
    fi
    sleep "$poll_s"
done
