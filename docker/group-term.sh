#!/bin/sh
# The workers' entry point in docker/compose.yaml: `sh group-term.sh celery ... worker ...`.
# `docker stop` signals a container's first process alone. A Celery worker's main process then
# shuts down warmly, waiting for the task its pool process runs: a training run, for hours,
# until Docker's SIGKILL loses everything since its last checkpoint. Like `make run` (killpg)
# and systemd (the whole control group), pass SIGTERM to every process of the worker: the
# training process checkpoints and hands its run back (runs/execution.py), then Celery exits.
# setsid: the command leads a process group of its own, signalled whole (no job control
# without a terminal, so `set -m` cannot do it).
setsid "$@" &
pid=$!
trap 'kill -TERM -"$pid" 2>/dev/null' TERM INT
# A trapped signal ends `wait` early: wait again until the command itself has exited.
wait "$pid"
status=$?
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid"
  status=$?
done
exit "$status"
