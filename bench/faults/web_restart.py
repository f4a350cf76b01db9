"""The web process restarted in the middle of an assignment: the annotator's link resumes at the same item, and
the assignment can be finished.

Usage, from the repository root:

    .venv/bin/python bench/faults/web_restart.py
    .venv/bin/python bench/faults/web_restart.py --answers-between 10 --database-url postgresql://postgres@127.0.0.1:5432/vtl_fault_web

It creates a database of its own on the local PostgreSQL (``vtl_fault_web``, dropped at the end), opens a small
study, serves it with granian as bench/annotation_load.py does, and one of its simulated annotators (testkit)
starts an assignment and answers a few images. Then the server is killed between two of the annotator's
requests, once with SIGKILL (a crash) and once with SIGTERM (a restart by the service manager), and started
again on the same port. Each time the annotator opens its link again (as after "Try again" or a reload) and
asks for the state, which must name the same image, by the same item token, at the same progress, as just
before the kill. It answers on and finally finishes the assignment. Prints each round and ``LOST <n>``: the
rounds that did not resume at the same item plus the acknowledged answers missing from the database (target
0). Exit status 0 when nothing was lost and the assignment finished.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import time
from typing import Any

from testkit.annotators import Annotator, Client, Deployment, Server, Stats, StudyInfo, build_study, configure
from testkit.measure import check_judgments, error_summary
from testkit.servers import Database

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/vtl_fault_web"
KILLS = (("SIGKILL", signal.SIGKILL), ("SIGTERM", signal.SIGTERM))


async def scenario(server: Server, study: StudyInfo, deployment: Deployment, between: int) -> Any:
    import aiohttp

    stats = Stats()
    rounds = []
    # No kept-alive connection: after the kill, as after a browser's, each request opens its own.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        client = Client(session, server.url, stats)
        annotator = Annotator(client, "2001:db8::1", "web-restart", study.entry_path, deployment.post_interval_s)
        await annotator.enter()
        state = await annotator.state()
        for name, sig in KILLS:
            for _ in range(between):
                await annotator.answer(state["item"]["token"])
                state = await annotator.state()
            before = (state["item"]["token"], state["done"])
            began = time.monotonic()
            await asyncio.to_thread(server.stop, sig)
            await asyncio.to_thread(server.start, study.entry_path)
            back = time.monotonic() - began
            annotator.config = None
            await annotator.enter()
            state = await annotator.state()
            after = (state["item"]["token"], state["done"])
            rounds.append((name, before, after, back))
        while state["item"] is not None:
            await annotator.answer(state["item"]["token"])
            state = await annotator.state()
        done = await annotator.finish()
    return stats, rounds, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers-between", type=int, default=5, help="answers before each kill")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="created, and dropped at the end")
    args = parser.parse_args(argv)

    deployment = Deployment(database_url=args.database_url)
    items = 4 * args.answers_between
    Database.at(args.database_url).create()
    server = None
    try:
        configure(deployment)
        study = build_study(images_per_pool=items, items_per_assignment=items, judgments_per_item=2)
        server = Server(deployment, workers=2, threads=4)
        server.start(study.entry_path)
        stats, rounds, done = asyncio.run(scenario(server, study, deployment, args.answers_between))
        server.stop()
        check = check_judgments(study.pk, stats)
    finally:
        if server is not None:
            server.stop()
        Database.at(args.database_url).drop()
        shutil.rmtree(deployment.data_dir, ignore_errors=True)

    print(
        f"web_restart: one annotator, {items} images, {server.server} killed after every {args.answers_between} answers"
    )
    missed = 0
    for name, (token, done_before), (token_after, done_after), back in rounds:
        same = token == token_after and done_before == done_after
        missed += not same
        print(
            f"  {name}: before the kill item {token[:8]}… ({done_before} answered); serving again after "
            f"{back:.1f} s; the link resumed at item {token_after[:8]}… ({done_after} answered): "
            f"{'the same item' if same else 'ANOTHER ITEM'}"
        )
    print(f"  finished: {done['kind']} with completion code {done['code']}; errors: {error_summary(stats.errors)}")
    print(f"  database: {check}")
    print(f"LOST {missed + check.lost}")
    return 0 if missed + check.lost == 0 and check.acknowledged_twice == 0 and not stats.errors else 1


if __name__ == "__main__":
    sys.exit(main())
