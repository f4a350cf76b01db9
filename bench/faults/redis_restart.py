"""Fault: Redis, the Celery broker, restarted while tasks wait in it, while workers execute them, and while
the web side queues new ones.

A private ``redis-server`` with persistence on (AOF: ``--appendonly yes`` as deploy/compose.yaml runs it,
``--appendfsync`` this script's option, ``always`` by default), a database of this scenario's own, beat,
and workers as the deploy files start them, prefetch 1: two gpu workers (prefork, concurrency 1, a fresh
child per task: one per GPU) and a cpu worker (prefork, concurrency 2). Each phase queues 20 real-image pools of digits
(``actions.draw_real_pool``: the cpu queue) and 2 tiny training runs (``actions.create_run``: the gpu
queue), then:

- queued: no worker runs; Redis is stopped, kept down ``--down`` seconds, started again on the same port
  and folder; only then do the workers start.
- in flight: the workers run; Redis is restarted so while a run trains and the pools are being drawn.
- published: Redis is stopped, and the tasks are queued while it is down (a researcher who clicks Launch
  during a restart); it comes back after ``--down`` seconds.

The first two are done with SIGTERM (a service restart: Redis writes its AOF out and exits) and SIGKILL
(the process dies at once; what it had acknowledged to clients is in the AOF file as far as the kernel
has it; the fsync policy only matters when the machine itself goes down).

    .venv/bin/python bench/faults/redis_restart.py
    .venv/bin/python bench/faults/redis_restart.py --appendfsync everysec --phases queued,published

Executions are counted from the workers' logs (each task body logs its outcome: done, or skipped when the
row says the work is done or taken). A phase is over when every row is done, or when Redis holds none of
its messages (queued or unacknowledged) and no row is running. Prints two lines per phase and ends with
``LOST <n>``: rows never done (a task lost), runs claimed more than once, and pools whose folder is not
exactly one complete copy (a second execution with effect). A repeated delivery that the rows turn into a
no-op, or a pool drawn twice whose second copy is discarded, is printed and not counted.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from collections import Counter
from typing import Any

from testkit.faults import Stack

OUTCOME = re.compile(r"runs\.tasks: (pool|run) (\d+): (.+)$", re.M)
RECEIVED = re.compile(r"Task runs\.(?!recover_stale_runs)\w+\[[0-9a-f-]+\] received")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appendfsync", default="always", choices=["always", "everysec", "no"])
    parser.add_argument("--phases", default="queued,in flight,published", help="comma-separated, in this order")
    parser.add_argument("--down", type=float, default=3.0, help="seconds Redis stays down at each restart")
    parser.add_argument("--pools", type=int, default=20, help="real-image pools queued per phase")
    parser.add_argument("--pool-size", type=int, default=400, help="images per pool (a fraction of a second)")
    parser.add_argument("--runs", type=int, default=2, help="training runs queued per phase")
    parser.add_argument("--cpu-concurrency", type=int, default=2, help="the cpu worker's, as deploy/ starts it")
    # Longer than any task here takes, the first ones' torch import included: a re-delivery then means
    # the restart, not a task that outlived its timeout.
    parser.add_argument("--visibility-timeout", default="30", help="CELERY_VISIBILITY_TIMEOUT")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    env = {
        "RUN_HEARTBEAT_SECONDS": "0.5",
        "RUN_LEASE_SECONDS": "3",
        "CELERY_VISIBILITY_TIMEOUT": args.visibility_timeout,
        "CELERY_RESTORE_INTERVAL": "1",
    }
    redis_options = ("--appendonly", "yes", "--appendfsync", args.appendfsync)
    with Stack("redis_restart", env, redis_options) as stack:
        from webapp import celery_app

        print(
            f"settings: redis-server {' '.join(redis_options)} (private, port {stack.redis.port}), down {args.down} s "
            f"at each restart; CELERY_VISIBILITY_TIMEOUT={args.visibility_timeout} CELERY_RESTORE_INTERVAL=1 "
            f"RUN_LEASE_SECONDS=3; publish retry {celery_app.conf.task_publish_retry_policy}; per phase "
            f"{args.pools} pools of {args.pool_size} images (cpu queue) + {args.runs} runs (gpu queue)"
        )
        stack.start_beat()
        lost = 0
        for label in args.phases.split(","):
            for sig in (signal.SIGTERM,) if label == "published" else (signal.SIGTERM, signal.SIGKILL):
                lost += phase(stack, args, label, sig)
    print(f"LOST {lost}")
    return 0 if lost == 0 else 1


def phase(stack: Stack, args: argparse.Namespace, label: str, sig: int) -> int:
    from runs import actions
    from runs.models import LEASED_STATUSES, ImagePool, JobStatus, RunStatus, TrainingRun
    from testkit.factories import tiny_config
    from testkit.servers import wait_for

    tag = f"{label.replace(' ', '-')}-{signal.Signals(sig).name}-{len(stack.processes)}"
    url = stack.redis.url
    runs: list[int] = []
    pools: list[int] = []
    refused: list[str] = []
    # Long enough that a gpu worker is still training when Redis goes, in the "in flight" phase.
    config = tiny_config(**{"optim.steps": 800, "run.checkpoint_every": 100, "run.eval_every": 0})

    def start_workers() -> list[Any]:
        gpu = stack.start_workers(f"gpu0-{tag}", f"gpu1-{tag}", queues="gpu")
        cpu = stack.start_workers(f"cpu-{tag}", queues="cpu", concurrency=args.cpu_concurrency, fresh_child=False)
        return [*gpu, *cpu]

    def queue(kind: str, i: int) -> None:
        if kind == "run":
            runs.append(actions.create_run(config, name=f"{tag} run {i}").pk)
        else:
            pools.append(actions.draw_real_pool("digits", size=args.pool_size, seed=i).pk)

    work = [("run", i) for i in range(args.runs)] + [("pool", i) for i in range(args.pools)]

    def done_pools() -> int:
        return ImagePool.objects.filter(pk__in=pools, status=JobStatus.DONE).count()

    workers = [] if label == "queued" else start_workers()
    before = after = (0, 0)
    if label == "published":
        stack.redis.stop(sig)
        comeback = threading.Timer(args.down, stack.redis.start)
        comeback.start()
        began = time.monotonic()
        try:
            for kind, i in work:
                try:
                    queue(kind, i)
                except Exception as exc:
                    # As from the admin: the row is committed before its message is sent, so it stays behind.
                    refused.append(type(exc).__name__)
                    (runs if kind == "run" else pools).append(_newest(TrainingRun if kind == "run" else ImagePool))
        finally:
            comeback.join()  # also on the way out: Redis must not start again after the clean-up
        outage = time.monotonic() - began
    else:
        for kind, i in work[: args.runs]:
            queue(kind, i)
        if workers:
            wait_for(
                lambda: TrainingRun.objects.filter(pk__in=runs, status=RunStatus.RUNNING, step__gt=0).exists(),
                120,
                "a run to train",
            )
        for kind, i in work[args.runs :]:
            queue(kind, i)
        if workers:
            wait_for(lambda: done_pools() > 0, 120, "a first pool")
        before = _messages(url)
        at_restart = (
            TrainingRun.objects.filter(pk__in=runs, status=RunStatus.RUNNING).count(),
            ImagePool.objects.filter(pk__in=pools, status=JobStatus.RUNNING).count(),
            done_pools(),
        )
        outage = stack.redis.restart(sig, down=args.down)
        after = _messages(url)
    if not workers:
        workers = start_workers()

    def settled() -> bool:
        runs_done = TrainingRun.objects.filter(pk__in=runs, status=RunStatus.DONE).count()
        if runs_done == len(runs) and done_pools() == len(pools):
            return True
        busy = TrainingRun.objects.filter(pk__in=runs, status__in=LEASED_STATUSES).exists()
        busy = busy or ImagePool.objects.filter(pk__in=pools, status=JobStatus.RUNNING).exists()
        return not busy and _messages(url) == (0, 0)

    def settled_for_a_second() -> bool:
        # Between a message's acknowledgement and the next one's delivery, Redis may hold none for a moment.
        return settled() and not time.sleep(1) and settled()

    try:
        wait_for(settled_for_a_second, 240, "every row done, or nothing left to run")
        # A message still unacknowledged would come back once older than the visibility timeout.
        wait_for(lambda: _messages(url) == (0, 0), float(args.visibility_timeout) + 10, "Redis to hold nothing")
    except AssertionError as exc:
        print(f"  NOT SETTLED: {exc}; Redis holds {_messages(url)} (queued, unacknowledged) of this phase's")
    for worker in workers:
        stack.stop(worker)

    logs = "".join(worker.output() for worker in workers)
    outcomes = Counter((kind, int(pk), outcome) for kind, pk, outcome in OUTCOME.findall(logs))
    rows = [("pool", pk) for pk in pools] + [("run", pk) for pk in runs]
    done = {
        ("pool", pk)
        for pk in ImagePool.objects.filter(pk__in=pools, status=JobStatus.DONE).values_list("pk", flat=True)
    }
    done |= {
        ("run", pk)
        for pk in TrainingRun.objects.filter(pk__in=runs, status=RunStatus.DONE).values_list("pk", flat=True)
    }
    lost = [row for row in rows if row not in done]
    twice = sum(max(0, outcomes[(*row, "done")] - 1) for row in rows)
    reclaimed = sum(
        attempt - 1 for attempt in TrainingRun.objects.filter(pk__in=runs).values_list("attempt", flat=True) if attempt
    )
    broken = sum(not _one_complete_copy(pool) for pool in ImagePool.objects.filter(pk__in=pools, status=JobStatus.DONE))
    skipped = sum(count for (_, _, outcome), count in outcomes.items() if outcome == "skipped")

    fault = (
        f"{len(refused)} of {len(rows)} calls raised ({', '.join(sorted(set(refused))) or 'none'}) while Redis was down"
        if label == "published"
        else f"messages in Redis before {before[0]} queued + {before[1]} unacknowledged, after {after[0]} + {after[1]}"
    )
    if label == "in flight":
        fault += f"; at the restart {at_restart[0]} run training, {at_restart[1]} pools drawing, {at_restart[2]} done"
    print(f"{label}, {signal.Signals(sig).name} (Redis down {outage:.1f} s): {fault}")
    print(
        f"  rows done {len(done)}/{len(rows)}, lost {len(lost)}; deliveries {len(RECEIVED.findall(logs))}, task bodies "
        f"run {sum(outcomes.values())}, skipped (already done or taken) {skipped}; executed twice {twice}, runs "
        f"claimed twice {reclaimed}, pools not exactly one complete copy {broken}"
        + (f"; lost: {', '.join(f'{kind} {pk}' for kind, pk in lost)}" if lost else "")
    )
    return len(lost) + reclaimed + broken


def _newest(model: Any) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first()


def _one_complete_copy(pool: Any) -> bool:
    """The pool's folder holds its images once, and no copy of a delivery that lost the race is left beside it."""
    leftovers = list(pool.folder.parent.glob(f"{pool.folder.name}.partial-*"))
    return len(list(pool.folder.glob("*.png"))) == pool.size and not leftovers


def _messages(url: str) -> tuple[int, int]:
    """This scenario's messages waiting in the task queues, and those delivered but not yet acknowledged
    (beat's sweeps, queued every few seconds, are left out). A client of its own each time: Redis restarts."""
    import redis

    def ours(message: dict[str, Any]) -> bool:
        return message["headers"]["task"] != "runs.recover_stale_runs"

    with redis.Redis.from_url(url) as client:
        lists = [key for key in client.scan_iter("[cg]pu*") if client.type(key) == b"list"]
        queued = sum(ours(json.loads(raw)) for key in lists for raw in client.lrange(key, 0, -1))
        # An unacknowledged entry is [message, exchange, routing key].
        unacked = sum(ours(json.loads(raw)[0]) for raw in client.hvals("unacked"))
    return queued, unacked


if __name__ == "__main__":
    raise SystemExit(main())
