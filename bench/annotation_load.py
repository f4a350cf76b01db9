"""Annotation under load: N simulated annotators go through a study's assignments over HTTP, against the app
served by gunicorn (gthread workers, DEBUG off) on PostgreSQL and Redis on this machine. Prints the machine,
the server's configuration, judgments per second, the p50/p95/p99 latency of "next item" (the state) and
"submit" (the answer), the errors by kind, where the CPU went, and the check that the database holds exactly
one judgment per submit that got a success response.

Usage, from the repository root:

    .venv/bin/python bench/annotation_load.py                      # 200 annotators for 60 s
    .venv/bin/python bench/annotation_load.py --annotators 400 --duration 30 --workers 2 --threads 8
    .venv/bin/python bench/annotation_load.py --flow browser       # exactly task.js's requests
    .venv/bin/python bench/annotation_load.py --keep               # keep the database vtl_bench_load

The script creates its own database (``--database-url``, dropped at the end unless ``--keep``), migrates it,
writes two small PNG pools through the project's pool encoder (testkit's factories), opens a
study over them, starts gunicorn, and drives the annotators from this process (asyncio and aiohttp).

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

import django
import gunicorn

from testkit.annotators import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Deployment,
    Server,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--annotators", type=int, default=200, help="concurrent simulated annotators")
    parser.add_argument("--duration", type=float, default=100, help="seconds of load, warm-up included")
    parser.add_argument("--ramp", type=float, default=20, help="seconds over which the annotators arrive")
    parser.add_argument("--warmup", type=float, default=40, help="first seconds left out of the figures")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--flow", choices=("poll", "browser"), default="poll", help=FLOW_HELP)
    parser.add_argument("--items", type=int, default=100, help="images per assignment")
    parser.add_argument("--judgments", type=int, default=10, help="judgments wanted per image")
    parser.add_argument("--images", type=int, default=0, help="images per pool (default: enough for the run)")
    parser.add_argument("--min-answer-ms", type=int, default=150, help="ANNOTATION_MIN_ANSWER_MS")
    parser.add_argument("--rate-limit", type=int, default=300, help="ANNOTATION_RATE_LIMIT (posts a minute)")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE (deploy/.env: 60)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="created, and dropped at the end")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database and the files")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.duration:
        parser.error(f"--warmup ({args.warmup:g} s) must be shorter than --duration ({args.duration:g} s)")

    deployment = Deployment(
        database_url=args.database_url,
        redis_url=args.redis_url,
        min_answer_ms=args.min_answer_ms,
        rate_limit=args.rate_limit,
        conn_max_age=args.conn_max_age,
    )
    # Enough images that the study is never full: every judgment the annotators can make, with room for the
    # places reserved in unfinished sequences, spread over the judgments each image wants.
    most = args.annotators * (args.duration / deployment.post_interval_s + args.items)
    images = args.images or max(args.items, math.ceil(most / args.judgments / 2 * 1.2))
    load_before = load_average()
    Database.at(args.database_url).create()
    server = None
    try:
        configure(deployment)
        study = build_study(images, args.items, args.judgments)
        server = Server(deployment, args.workers, args.threads)
        server.start(study.entry_path)
        meter = CpuMeter(server.pids, database_backends(args.database_url))
        measured: dict[str, float] = {}

        async def start_meter() -> None:
            meter.start()

        async def stop_meter() -> None:
            measured.update(meter.stop())

        stats, began = asyncio.run(
            run_load(
                server.url,
                study.entry_path,
                annotators=args.annotators,
                duration_s=args.duration,
                post_interval_s=deployment.post_interval_s,
                flow=args.flow,
                ramp_s=args.ramp,
                during=[(args.warmup, start_meter), (args.duration, stop_meter)],
            )
        )
        load_after = load_average()
        server.stop()
        check = check_judgments(study.pk, stats)
        start, end = began + args.warmup, began + args.duration
        window = end - start
        judged = sum(1 for at, _ in stats.stored if start <= at <= end)
        rate = judged / window
        errors = stats.errors
        answers = [s * 1000 for at, s in stats.latencies["answer"] if start <= at <= end]
        # The next item is the state's request; in task.js's flow it comes with the answer (its image's bytes too),
        # and a state request only starts or resumes an assignment.
        nexts = [s * 1000 for at, s in stats.latencies["state"] if start <= at <= end]
        if args.flow == "browser" and answers:
            p99 = max(percentile(answers, 99), percentile(nexts, 99) if nexts else 0)
        else:
            p99 = max(percentile(answers, 99), percentile(nexts, 99)) if answers and nexts else math.inf
        print(f"annotation load: {args.annotators} simulated annotators, flow {args.flow}, {args.duration:.0f} s")
        print(f"  ({args.warmup:.0f} s warm-up left out of the figures below: measured over {window:.0f} s)")
        print(
            f"machine: {os.cpu_count()} cores; load average (1/5/15 min) {load_before} before, {load_after} at the "
            "end; another benchmark may hold a core (see 'rest of the machine')"
        )
        print(
            f"server: gunicorn {gunicorn.__version__} gthread, {args.workers} workers x {args.threads} threads, "
            f"Django {django.get_version()} DEBUG off, CONN_MAX_AGE {args.conn_max_age}, "
            f"PostgreSQL {Database.at(args.database_url).server_version()}, rate limit in Redis"
        )
        print(
            f"study: {study.test_items} test images, {args.items} per assignment, {args.judgments} judgments each; "
            f"pacing: ANNOTATION_MIN_ANSWER_MS {args.min_answer_ms}, ANNOTATION_RATE_LIMIT {args.rate_limit}/min "
            f"per address -> one post every {deployment.post_interval_s * 1000:.0f} ms at most per annotator"
        )
        print(
            f"judgments: {judged} in {window:.0f} s = {rate:.1f}/s  "
            f"(assignments started {len(stats.started)}, finished {len(stats.finished)})"
        )
        print("\n".join(latency_table(stats, start, end)))
        print(f"errors (whole run): {error_summary(errors)}")
        print(
            f"CPU in the window, cores: gunicorn {measured['server']:.2f}, PostgreSQL {measured['database']:.2f}, "
            f"this client {measured['client']:.2f}, rest of the machine {measured['rest']:.2f} "
            f"(busy {measured['machine']:.2f} of {os.cpu_count()})"
        )
        if judged:
            server_ms = measured["server"] * window / judged * 1000
            database_ms = measured["database"] * window / judged * 1000
            print(
                f"server CPU per judgment (with its share of starts and pages): gunicorn {server_ms:.1f} ms + "
                f"PostgreSQL {database_ms:.1f} ms -> {1000 / (server_ms + database_ms):.0f} judgments/s per free core"
            )
        print(f"database: {check}")
        met = rate >= TARGET_RATE and p99 < TARGET_P99_MS and not errors and check.exact
        print(
            f"target (>= {TARGET_RATE} judgments/s, p99 of next item and submit < {TARGET_P99_MS} ms, no error): "
            f"{'MET' if met else 'NOT MET'} ({rate:.0f}/s, p99 {p99:.1f} ms, {len(errors)} errors)"
        )
        return 0 if check.exact and not errors else 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept: database {args.database_url}, files {deployment.data_dir}")
        else:
            Database.at(args.database_url).drop()
            shutil.rmtree(deployment.data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
