"""Annotation under load: N simulated annotators go through a study's assignments over HTTP, against the app
served by granian (WSGI; or gunicorn's gthread: --server) with DEBUG off on PostgreSQL and Redis on this machine.
With --compare-floor, the app beside the floor (testkit.floor). Prints the machine,
the server's configuration, judgments per second, the p50/p95/p99 latency of "next item" (the state) and
"submit" (the answer), the errors by kind, where the CPU went, and the check that the database holds exactly
one judgment per submit that got a success response.

Usage, from the repository root:

    .venv/bin/python bench/annotation_load.py                      # 200 annotators for 60 s
    .venv/bin/python bench/annotation_load.py --annotators 400 --duration 30 --workers 2 --threads 8
    .venv/bin/python bench/annotation_load.py --flow browser       # exactly task.js's requests
    .venv/bin/python bench/annotation_load.py --keep               # keep the database vtl_bench_load
    .venv/bin/python bench/annotation_load.py --compare-floor      # app and floor, 1 to 200 annotators, a table
    .venv/bin/python bench/annotation_load.py --compare-floor --servers granian,gunicorn

The script creates its own database (``--database-url``, dropped at the end unless ``--keep``), migrates it,
writes two small PNG pools through the project's pool encoder (testkit's factories), opens a
study over them, starts the server, and drives the annotators from this process (asyncio and aiohttp).

The simulated annotators are testkit.annotators' (each arrives by a link of its own, consents, and answers at
a fast human's pace within the server's limits, from a client address of its own), measured by testkit.measure.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any

import django
import granian
import gunicorn

from testkit.annotators import (
    APPS,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    SERVERS,
    Deployment,
    Server,
    Stats,
    StudyInfo,
    build_study,
    configure,
    run_load,
)
from testkit.measure import (
    CpuMeter,
    check_judgments,
    database_backends,
    error_summary,
    latency_table,
    load_average,
    percentile,
)
from testkit.servers import Database

TARGET_RATE = 500
TARGET_P99_MS = 100
FLOW_HELP = (
    "poll: ask for the state before every answer (the next item, then the submit);\n"
    "browser: task.js's own requests: the answer alone, whose response holds the next state and its image's bytes"
)
COMPARE_HELP = (
    "the app beside the floor (testkit.floor: the same SQL in a bare WSGI app) at each of --levels, closed loop\n"
    "(no pacing unless --min-answer-ms/--rate-limit say so), on each of --servers: a table"
)
# The most judgments a second the floor makes here: the closed loop's runs need that many images at most.
CLOSED_LOOP_CEILING = 1000


@dataclass
class Measured:
    """One run's figures over its window (the warm-up left out)."""

    label: str
    annotators: int
    start: float
    end: float
    judged: int
    nexts_ms: list[float]
    answers_ms: list[float]
    cpu: dict[str, float]
    load: str
    stats: Stats
    carried: bool  # the next item comes in the answer's response (task.js's flow)

    @property
    def window_s(self) -> float:
        return self.end - self.start

    @property
    def rate(self) -> float:
        return self.judged / self.window_s

    @property
    def requests_ms(self) -> list[float]:
        return self.nexts_ms + self.answers_ms

    @property
    def p99(self) -> float:
        """Of the next item and the submit; in task.js's flow the next item comes with the submit, and a state
        request only starts or resumes an assignment."""
        if not self.answers_ms or (not self.nexts_ms and not self.carried):
            return math.inf
        return max(percentile(self.answers_ms, 99), percentile(self.nexts_ms, 99) if self.nexts_ms else 0)

    def cpu_ms(self, part: str) -> float:
        """Milliseconds of ``part``'s CPU per judgment (with its share of starts and pages)."""
        return self.cpu[part] * self.window_s / self.judged * 1000 if self.judged else math.inf


def run_once(
    server: Server, study: StudyInfo, deployment: Deployment, database_url: str, args: argparse.Namespace, **load: Any
) -> Measured:
    """Serve the study, drive the annotators against it, stop the server, and measure the window."""
    server.start(study.entry_path)
    try:
        meter = CpuMeter(server.pids, database_backends(database_url))
        measured: dict[str, float] = {}

        async def start_meter() -> None:
            meter.start()

        async def stop_meter() -> None:
            measured.update(meter.stop())

        stats, began = asyncio.run(
            run_load(
                server.url,
                study.entry_path,
                duration_s=args.duration,
                post_interval_s=deployment.post_interval_s,
                flow=args.flow,
                ramp_s=args.ramp,
                during=[(args.warmup, start_meter), (args.duration, stop_meter)],
                **load,
            )
        )
    finally:
        server.stop()
    start, end = began + args.warmup, began + args.duration
    return Measured(
        label=f"{server.server} {'floor' if server.app == APPS['floor'] else 'app'}",
        annotators=load["annotators"],
        start=start,
        end=end,
        judged=sum(1 for at, _ in stats.stored if start <= at <= end),
        nexts_ms=[s * 1000 for at, s in stats.latencies["state"] if start <= at <= end],
        answers_ms=[s * 1000 for at, s in stats.latencies["answer"] if start <= at <= end],
        cpu=measured,
        load=load_average(),
        stats=stats,
        carried=args.flow == "browser",
    )


def describe(args: argparse.Namespace, deployment: Deployment, servers: list[str]) -> list[str]:
    versions = {
        "gunicorn": f"gunicorn {gunicorn.__version__} gthread",
        "granian": f"granian {granian.__version__} WSGI",
    }
    return [
        f"machine: {os.cpu_count()} cores, this load generator on it; load average (1/5/15 min) {load_average()} "
        "at the start",
        f"servers: {', '.join(versions[name] for name in servers)}, {args.workers} workers x {args.threads} threads; "
        f"Django {django.get_version()} DEBUG off, CONN_MAX_AGE {args.conn_max_age}, "
        f"PostgreSQL {Database.at(args.database_url).server_version()}, rate limit in Redis",
        f"pacing: ANNOTATION_MIN_ANSWER_MS {deployment.min_answer_ms}, ANNOTATION_RATE_LIMIT "
        f"{deployment.rate_limit}/min per address -> one post every {deployment.post_interval_s * 1000:.0f} ms at "
        "most per annotator",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--annotators", type=int, default=200, help="concurrent simulated annotators")
    parser.add_argument("--duration", type=float, default=100, help="seconds of load, warm-up included")
    parser.add_argument("--ramp", type=float, default=20, help="seconds over which the annotators arrive")
    parser.add_argument("--warmup", type=float, default=40, help="first seconds left out of the figures")
    parser.add_argument("--server", choices=SERVERS, default=SERVERS[0], help="the WSGI server")
    parser.add_argument("--app", choices=sorted(APPS), default="app", help="the app, or the floor (testkit.floor)")
    parser.add_argument("--workers", type=int, default=3, help="worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--flow", choices=("poll", "browser"), default="poll", help=FLOW_HELP)
    parser.add_argument("--compare-floor", action="store_true", help=COMPARE_HELP)
    parser.add_argument("--levels", default="1,10,50,200", help="--compare-floor: the annotators of each run")
    parser.add_argument("--servers", default="", help="--compare-floor: servers to compare (default: --server)")
    parser.add_argument("--items", type=int, default=100, help="images per assignment")
    parser.add_argument("--judgments", type=int, default=10, help="judgments wanted per image")
    parser.add_argument("--images", type=int, default=0, help="images per pool (default: enough for the run)")
    parser.add_argument("--min-answer-ms", type=int, help="ANNOTATION_MIN_ANSWER_MS (150; --compare-floor: 0)")
    parser.add_argument("--rate-limit", type=int, help="ANNOTATION_RATE_LIMIT, posts a minute (300; compare: 10**6)")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE (deploy/.env: 60)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="created, and dropped at the end")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database and the files")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.duration:
        parser.error(f"--warmup ({args.warmup:g} s) must be shorter than --duration ({args.duration:g} s)")
    servers = [name for name in args.servers.split(",") if name] or [args.server]
    if set(servers) - set(SERVERS):
        parser.error(f"--servers: from {', '.join(SERVERS)}")
    levels = [int(level) for level in args.levels.split(",")] if args.compare_floor else [args.annotators]

    deployment = Deployment(
        database_url=args.database_url,
        redis_url=args.redis_url,
        min_answer_ms=(0 if args.compare_floor else 150) if args.min_answer_ms is None else args.min_answer_ms,
        rate_limit=(10**6 if args.compare_floor else 300) if args.rate_limit is None else args.rate_limit,
        conn_max_age=args.conn_max_age,
    )
    # Enough images that the study is never full: every judgment the annotators can make, with room for the
    # places reserved in unfinished sequences, spread over the judgments each image wants.
    if args.compare_floor:
        runs = len(levels) * len(servers) * 2
        most = runs * (CLOSED_LOOP_CEILING * args.duration + max(levels) * args.items)
    else:
        most = args.annotators * (args.duration / deployment.post_interval_s + args.items)
    images = args.images or max(args.items, math.ceil(most / args.judgments / 2 * 1.2))
    Database.at(args.database_url).create()
    try:
        configure(deployment)
        study = build_study(images, args.items, args.judgments)
        print("\n".join(describe(args, deployment, servers)))
        print(f"study: {study.test_items} test images, {args.items} per assignment, {args.judgments} judgments each")
        if args.compare_floor:
            return compare(args, deployment, study, servers, levels)
        server = Server(deployment, args.workers, args.threads, server=args.server, app=APPS[args.app])
        result = run_once(server, study, deployment, args.database_url, args, annotators=args.annotators)
        return report(args, study, result)
    finally:
        if args.keep:
            print(f"kept: database {args.database_url}, files {deployment.data_dir}")
        else:
            Database.at(args.database_url).drop()
            shutil.rmtree(deployment.data_dir, ignore_errors=True)


def report(args: argparse.Namespace, study: StudyInfo, result: Measured) -> int:
    stats, window = result.stats, result.window_s
    errors = stats.errors
    check = check_judgments(study.pk, stats)
    print(f"{result.label}: {args.annotators} simulated annotators, flow {args.flow}, {args.duration:.0f} s")
    print(f"  ({args.warmup:.0f} s warm-up left out of the figures below: measured over {window:.0f} s)")
    print(f"load average at the end: {result.load}; another benchmark may hold a core (see 'rest of the machine')")
    print(
        f"judgments: {result.judged} in {window:.0f} s = {result.rate:.1f}/s  "
        f"(assignments started {len(stats.started)}, finished {len(stats.finished)})"
    )
    print("\n".join(latency_table(stats, result.start, result.end)))
    print(f"errors (whole run): {error_summary(errors)}")
    cpu = result.cpu
    print(
        f"CPU in the window, cores: {args.server} {cpu['server']:.2f}, PostgreSQL {cpu['database']:.2f}, "
        f"this client {cpu['client']:.2f}, rest of the machine {cpu['rest']:.2f} "
        f"(busy {cpu['machine']:.2f} of {os.cpu_count()})"
    )
    if result.judged:
        server_ms, database_ms = result.cpu_ms("server"), result.cpu_ms("database")
        print(
            f"server CPU per judgment (with its share of starts and pages): {args.server} {server_ms:.1f} ms + "
            f"PostgreSQL {database_ms:.1f} ms -> {1000 / (server_ms + database_ms):.0f} judgments/s per free core"
        )
    print(f"database: {check}")
    met = result.rate >= TARGET_RATE and result.p99 < TARGET_P99_MS and not errors and check.exact
    print(
        f"target (>= {TARGET_RATE} judgments/s, p99 of next item and submit < {TARGET_P99_MS} ms, no error): "
        f"{'MET' if met else 'NOT MET'} ({result.rate:.0f}/s, p99 {result.p99:.1f} ms, {len(errors)} errors)"
    )
    return 0 if check.exact and not errors else 1


def compare(
    args: argparse.Namespace, deployment: Deployment, study: StudyInfo, servers: list[str], levels: list[int]
) -> int:
    """Each server with the app and with the floor at each number of annotators, on one study; a table."""
    results: list[Measured] = []
    for name in servers:
        for annotators in levels:
            for app in ("floor", "app"):
                server = Server(deployment, args.workers, args.threads, server=name, app=APPS[app])
                results.append(run_once(server, study, deployment, args.database_url, args, annotators=annotators))
                done = results[-1]
                print(f"  {done.label} C={annotators}: {done.rate:.0f}/s, load average {done.load}", flush=True)
    stored = Stats(stored=[entry for result in results for entry in result.stats.stored])
    check = check_judgments(study.pk, stored)
    errors = [error for result in results for error in result.stats.errors]
    floors = {(r.label.split()[0], r.annotators): r for r in results if r.label.endswith("floor")}
    print(
        f"\nclosed loop, flow {args.flow}: {args.duration:.0f} s a run, the first {args.warmup:.0f} s left out; "
        "server CPU = the web server's processes + PostgreSQL's backends, per judgment"
    )
    header = f"{'':<16}{'C':>5}{'judg./s':>9}{'p50 ms':>8}{'p99 ms':>8}{'web ms':>8}{'PG ms':>7}{'CPU ms':>8}"
    print(f"{header}{'% floor':>9}{'CPU x floor':>12}  load average")
    for result in results:
        floor = floors[(result.label.split()[0], result.annotators)]
        requests = result.requests_ms
        web, database = result.cpu_ms("server"), result.cpu_ms("database")
        share = 100 * result.rate / floor.rate if floor.rate else math.nan
        times = (web + database) / (floor.cpu_ms("server") + floor.cpu_ms("database"))
        print(
            f"{result.label:<16}{result.annotators:>5}{result.rate:>9.0f}"
            f"{percentile(requests, 50) if requests else math.nan:>8.1f}{result.p99:>8.1f}"
            f"{web:>8.2f}{database:>7.2f}{web + database:>8.2f}{share:>8.0f}%{times:>12.2f}  {result.load}"
        )
    print(f"errors (all runs): {error_summary(errors)}")
    print(f"database: {check}")
    return 0 if check.exact and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
