"""Fault: a Celery worker killed with SIGKILL in the middle of a training run.

Two real ``celery -A webapp worker`` processes (queues gpu,cpu; prefork, concurrency 1, prefetch 1, a fresh
child per task: the deploy files' GPU worker) and beat (the recovery sweep, as deploy/ runs it) on a private
Redis and a database of this scenario's own. A tiny run on scikit-learn's digits (the tests' config, long
enough to last about half a minute, a checkpoint every 100 steps) is launched through
``actions.create_run``; once it has checkpointed past ``--kill-after`` and trained on past that checkpoint,
the worker named in the run's ``worker_host`` is killed with SIGKILL, with its whole process group (a machine
lost). The other worker must take the run over, resume it from the newest checkpoint on disk and finish it,
never with two trainers at once. Lease and visibility timeouts are seconds here (as tests/conftest.py sets
them), so the scenario takes about a minute; with ``--compare`` (default) the same config is then trained
without interruption in this process and its final checkpoint compared with the resumed run's, tensor by
tensor.

    .venv/bin/python bench/faults/worker_kill.py                 # defaults: prefork pool, lease 3 s
    .venv/bin/python bench/faults/worker_kill.py --pool solo --no-compare

Prints the figures and ends with ``LOST <n>``: runs not finished, trainings restarted from step 0 (beyond
the first), a resume from older than the newest checkpoint, two trainers at once, duplicated run or
checkpoint rows, logged steps missing from the run's record. Steps trained after the newest checkpoint and
recomputed by the second worker are printed, not counted: they are the price of the checkpoint interval,
not a loss.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from testkit.faults import Stack, checkpoint_steps, max_overlap


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps of the run (about 70/s here)")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--kill-after", type=int, default=600, help="kill once a checkpoint past this step exists")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "solo"], help="the workers' pool")
    parser.add_argument("--lease", default="3", help="RUN_LEASE_SECONDS")
    parser.add_argument("--heartbeat", default="0.5", help="RUN_HEARTBEAT_SECONDS")
    parser.add_argument("--visibility-timeout", default="12", help="CELERY_VISIBILITY_TIMEOUT")
    parser.add_argument("--no-compare", dest="compare", action="store_false", help="skip the uninterrupted twin")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    env = {
        "RUN_HEARTBEAT_SECONDS": args.heartbeat,
        "RUN_LEASE_SECONDS": args.lease,
        "CELERY_VISIBILITY_TIMEOUT": args.visibility_timeout,
        "CELERY_RESTORE_INTERVAL": "1",
    }
    with Stack("worker_kill", env) as stack:
        return scenario(stack, args)


def scenario(stack: Stack, args: argparse.Namespace) -> int:
    from django.utils import timezone

    from runs import actions
    from runs.models import Checkpoint, MetricPoint, RunStatus, TrainingRun
    from testkit.factories import tiny_config
    from testkit.servers import wait_for_run

    fresh = ", a fresh child per task" if args.pool == "prefork" else ""
    print(
        f"settings: RUN_LEASE_SECONDS={args.lease} RUN_HEARTBEAT_SECONDS={args.heartbeat} "
        f"CELERY_VISIBILITY_TIMEOUT={args.visibility_timeout} CELERY_RESTORE_INTERVAL=1; "
        f"2 workers ({args.pool} pool, concurrency 1, prefetch 1{fresh}) + beat; private Redis, port {stack.redis.port}"
    )
    workers = {worker.name: worker for worker in stack.start_workers("w1", "w2", pool=args.pool)}
    stack.start_beat()

    overrides = {
        "optim.steps": args.steps,
        "run.log_every": args.log_every,
        "run.checkpoint_every": args.checkpoint_every,
        "run.eval_every": 0,
        "run.sample_every": 0,
    }
    config = tiny_config(**overrides)
    run = actions.create_run(config, name="survives a SIGKILL")
    launched = time.monotonic()

    def past_a_checkpoint(r: TrainingRun) -> bool:
        newest = Checkpoint.objects.filter(run=r).order_by("-step").values_list("step", flat=True).first()
        # Half an interval past it: the second worker has steps to recompute, as after a real loss.
        return (
            r.status == RunStatus.RUNNING
            and newest is not None
            and newest >= args.kill_after
            and (r.step >= newest + args.checkpoint_every // 2)
        )

    run = wait_for_run(run.pk, 180, f"a checkpoint past step {args.kill_after}", past_a_checkpoint)
    holder = workers[run.worker_host.partition("@")[0]]
    holder.kill()
    killed_at = timezone.now()
    run.refresh_from_db()
    step_at_kill = run.step
    on_disk = checkpoint_steps(run.run_dir)
    last_checkpoint = on_disk[-1] if on_disk else None
    partial = len(list((run.run_dir / "checkpoints").glob("*.tmp")))
    (survivor,) = (w for name, w in workers.items() if name != holder.name)

    try:
        run = wait_for_run(run.pk, 240, f"{survivor.name} to finish the run", lambda r: r.status == RunStatus.DONE)
    except AssertionError as exc:
        print(f"NOT FINISHED: {exc}")
        run.refresh_from_db()
    finished = time.monotonic()

    events = list(run.events.order_by("id").values_list("created_at", "message"))
    claims = [at for at, m in events if re.match(r"attempt \d+ claimed by ", m)]
    later = [at for at in claims if at > killed_at]
    at_once = max_overlap(training_spans(events, run, holder, killed_at, [w.output() for w in workers.values()]))
    swept = any("stopped renewing its lease" in m for at, m in events if at > killed_at)
    ignored = sum("ignored" in m for _, m in events)
    from_scratch = sum(m.startswith("training from step 0") for _, m in events)
    recovery = (later[0] - killed_at).total_seconds() if later else float("nan")
    resumes = [at for at, m in events if at > killed_at and m.startswith("resuming from the checkpoint")]
    training_again = (resumes[0] - killed_at).total_seconds() if resumes else float("nan")

    steps = list(Checkpoint.objects.filter(run=run).values_list("step", flat=True))
    duplicate_checkpoints = len(steps) - len(set(steps))
    duplicate_runs = TrainingRun.objects.count() - 1
    logged = set(MetricPoint.objects.filter(run=run, name="loss_d").values_list("step", flat=True))
    expected = set(range(args.log_every, args.steps + 1, args.log_every))
    missing_steps = len(expected - logged)
    resumed = run.resumed_from_step

    print(
        f"kill: SIGKILL to {holder.name} (group of pid {holder.proc.pid}) "
        f"{(killed_at - run.started_at).total_seconds():.1f} s after the run started; last reported step "
        f"{step_at_kill}, newest checkpoint on disk {last_checkpoint} (partial checkpoint files left: {partial})"
    )
    print(
        f"recovery: {survivor.name} claimed attempt {run.attempt} {recovery:.1f} s after the kill "
        f"({'beat sweep re-queued it' if swept else 'broker re-delivery'}) and trained again {training_again:.1f} s "
        f"after it, resumed from step {resumed}; recomputed {step_at_kill - (resumed or 0)} steps trained after "
        "the checkpoint (not a loss)"
    )
    print(
        f"final: {run.status} at step {run.step}/{run.total_steps} by {run.worker_host.partition('@')[0]}, "
        f"{finished - launched:.1f} s from launch; trainers at once: {at_once}; duplicate deliveries ignored: "
        f"{ignored}; claims {len(claims)} (2 expected); trainings from step 0: {from_scratch} (1 expected)"
    )
    print(
        f"record: checkpoint rows {len(steps)} (duplicates {duplicate_checkpoints}), run rows "
        f"{duplicate_runs + 1}, logged steps {len(logged & expected)}/{len(expected)} (missing {missing_steps})"
    )
    if args.compare and run.status == RunStatus.DONE:
        same, tensors = compare_with_uninterrupted(config, run.run_dir / "checkpoints" / f"step_{args.steps:08d}.pt")
        print(f"bit-identical to an uninterrupted run of the same config: {'yes' if same else 'no'} ({tensors})")

    lost = sum(
        [
            run.status != RunStatus.DONE,
            from_scratch - 1,
            last_checkpoint is not None and (resumed or 0) < last_checkpoint,
            at_once > 1,
            duplicate_checkpoints,
            duplicate_runs,
            missing_steps,
        ]
    )
    if lost:
        print("the run's log, to see why:")
        for at, message in events:
            print(f"  {(at - killed_at).total_seconds():+7.2f} s  {message.splitlines()[0][:160]}")
    print(f"LOST {lost}")
    return 0 if lost == 0 else 1


def training_spans(events: list[Any], run: Any, holder: Any, killed_at: Any, logs: list[str]) -> list[tuple]:
    """When each attempt trained: from its "training from"/"resuming from" entry (only the lease's holder
    writes one) to the kill, the end of the run, or the "lease lost" line its worker logged (an attempt
    whose lease went to another stops there); an attempt with no such line is taken to run until the next
    claim, the least it can have lasted."""
    from django.utils import timezone

    lost = sorted(
        datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").astimezone()
        for log in logs
        for stamp in re.findall(rf"^\[([\d-]+ [\d:,]+): WARNING.*run {run.pk}: lease lost", log, re.M)
    )
    spans: list[tuple[float, float]] = []
    worker, begun = "", None
    for at, message in [*events, (None, "end")]:
        claimed = re.match(r"attempt \d+ claimed by (\S+)@", message)
        if begun is not None and (claimed or at is None):
            if worker == holder.name and begun < killed_at and (at is None or at > killed_at):
                end = killed_at
            elif at is None:
                end = run.finished_at or timezone.now()
            else:
                end = next((t for t in lost if t > begun), at)
            spans.append((begun.timestamp(), end.timestamp()))
            begun = None
        if claimed:
            worker = claimed.group(1)
        elif message.startswith(("training from step", "resuming from the checkpoint")):
            begun = at
    return spans


def compare_with_uninterrupted(config: Any, resumed_checkpoint: Path) -> tuple[bool, str]:
    """Train ``config`` through in this process (one thread, as the workers) and compare every tensor of
    the recipe's state (both networks, both optimisers, averages) with the resumed run's final checkpoint."""
    import torch

    from gan_engine import train

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="vtl-fault-twin-") as folder:
        twin = Path(train(config, folder).checkpoint)
        a = torch.load(twin, map_location="cpu", weights_only=True)["recipe"]
        b = torch.load(resumed_checkpoint, map_location="cpu", weights_only=True)["recipe"]
    flat_a, flat_b = _tensors(a), _tensors(b)
    differ = [key for key in flat_a if key not in flat_b or not torch.equal(flat_a[key], flat_b[key])]
    same = not differ and flat_a.keys() == flat_b.keys()
    networks = sum(key.startswith(("generator.", "discriminator.")) for key in flat_a)
    return same, f"{len(flat_a)} tensors, {networks} of them G's and D's parameters; {len(differ)} differ"


def _tensors(state: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(state, dict):
        return {k: v for key, value in state.items() for k, v in _tensors(value, f"{prefix}{key}.").items()}
    if isinstance(state, list | tuple):
        return {k: v for i, value in enumerate(state) for k, v in _tensors(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): state} if hasattr(state, "shape") else {}


if __name__ == "__main__":
    raise SystemExit(main())
