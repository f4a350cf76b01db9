"""PostgreSQL restarted under annotation load: every judgment that got a success response is in the database,
none twice, and the web server recovers by itself.

Usage, from the repository root:

    .venv/bin/python bench/faults/postgres_restart.py                    # 100 annotators, 40 s, restart at 15 s
    .venv/bin/python bench/faults/postgres_restart.py --annotators 200 --duration 60 --restart-at 20

It creates a PRIVATE PostgreSQL cluster (initdb into a temporary folder, pg_ctl on a free port with a unix
socket folder of its own: the machine's own cluster is never touched), serves the app from it with granian
as bench/annotation_load.py does, drives its simulated annotators (testkit.annotators), and restarts the
cluster in the middle (``pg_ctl restart -m fast``). The annotators do what task.js does: a request answered 503
(or not at all) is a pause, sent again after Retry-After; any other failure is the page's error screen, after
which the annotator opens its link again a moment later, as a person would (or gives up: each annotator shown
the error screen is one who might). At the end the script compares the answers acknowledged with a success
response against the judgments in the database and prints ``LOST <n>``: acknowledged answers missing from the
database (target 0), with the answers acknowledged twice, what the annotators saw (pauses, error screens, in and
out of the outage), and how long the server took to serve a judgment again. Exit status 0 when nothing was lost
or doubled, no error fell outside the outage and the server recovered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testkit.annotators import Deployment, Server, build_study, configure, run_load
from testkit.measure import check_judgments, error_summary
from testkit.servers import Database, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "vtl_fault_postgres"
# Errors this long after the cluster is back still belong to the outage: each worker's dead connection is
# found by Django's health check at its next request, and a failed annotator waits before opening its link.
RECOVERY_GRACE_S = 5.0


class PrivateCluster:
    """A PostgreSQL cluster of this script's own, in a temporary folder, on a free port."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.data, self.sockets, self.log = folder / "data", folder / "sockets", folder / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str) -> None:
        # initdb and the server refuse to run as root: run them as the postgres user, who then owns the folder.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def init(self) -> None:
        self.sockets.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c max_connections=100"
        command = [str(PG_BIN / "pg_ctl"), action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", options]
        self._run(*command, *extra)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=100)
    parser.add_argument("--duration", type=float, default=40, help="seconds of load")
    parser.add_argument("--restart-at", type=float, default=15, help="seconds into the load")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)

    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="vtl-fault-postgres-")))
    deployment = Deployment(database_url=cluster.url)
    server = None
    cluster.init()
    cluster.start()
    try:
        Database.at(cluster.url).create()
        configure(deployment)
        study = build_study(images_per_pool=2000, items_per_assignment=100, judgments_per_item=10)
        server = Server(deployment, args.workers, args.threads)
        server.start(study.entry_path)
        outage: list[float] = []

        async def restart() -> None:
            outage.append(time.monotonic())
            await asyncio.to_thread(cluster.restart)
            outage.append(time.monotonic())

        stats, began = asyncio.run(
            run_load(
                server.url,
                study.entry_path,
                annotators=args.annotators,
                duration_s=args.duration,
                post_interval_s=deployment.post_interval_s,
                ramp_s=5,
                during=[(args.restart_at, restart)],
            )
        )
        server.stop()
        check = check_judgments(study.pk, stats)
    finally:
        if server is not None:
            server.stop()
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)
        shutil.rmtree(deployment.data_dir, ignore_errors=True)

    down, up = outage
    in_outage = [(at, kind) for at, kind in stats.errors if down <= at <= up + RECOVERY_GRACE_S]
    outside = [(at, kind) for at, kind in stats.errors if not down <= at <= up + RECOVERY_GRACE_S]
    after = sorted(at for at, _ in stats.stored if at > up)
    recovered = bool(after)
    print(f"postgres_restart: {args.annotators} simulated annotators, {args.duration:.0f} s, on a private cluster")
    print(
        f"  server: {server.server} {args.workers} workers x {args.threads} threads, CONN_MAX_AGE "
        f"{deployment.conn_max_age}, CONN_HEALTH_CHECKS on"
    )
    print(f"  pg_ctl restart -m fast at {down - began:.1f} s; the cluster answered again {up - down:.2f} s later")
    print(
        f"  judgments acknowledged: {sum(1 for at, _ in stats.stored if at < down)} before the restart, "
        f"{len(after)} after it"
    )
    if recovered:
        print(f"  first judgment stored after the restart: {after[0] - up:.2f} s after the cluster was back")
    else:
        print("  the server served no judgment after the restart: NOT RECOVERED")
    paused = [(at, kind) for at, kind in stats.pauses if down <= at <= up + RECOVERY_GRACE_S]
    print(f"  pauses (Reconnecting…) during the outage: {len(paused)}: {error_summary(paused)}")
    print(f"  pauses outside the outage: {len(stats.pauses) - len(paused)}")
    print(f"  errors during the outage (allowed): {len(in_outage)}: {error_summary(in_outage)}")
    print(f"  errors outside the outage: {len(outside)}: {error_summary(outside)}")
    shown = {who for _, who in stats.error_screens}
    print(f"  error screens shown: {len(stats.error_screens)}, to {len(shown)} annotators (each one who might leave)")
    print(f"  answers sent again and found stored by the interrupted try: {stats.replayed}")
    print(f"  database: {check}")
    print(f"LOST {check.lost}")
    return 0 if check.lost == 0 and check.acknowledged_twice == 0 and not outside and recovered else 1


if __name__ == "__main__":
    sys.exit(main())
