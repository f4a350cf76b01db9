"""Simulated observers through the real annotator flow over HTTP against a live server on PostgreSQL: their
judgments reach the accuracy the model predicts, are marked simulated, stay out of the human results unless asked
for, are labelled in every export; the management command and the admin's pilot (on a real Celery worker) run
them."""

from __future__ import annotations

import csv
import io
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from scipy.stats import norm

from annotation import stats
from annotation.actions.studies import close_study
from annotation.models import Annotator, Assignment, Judgment
from annotation.results import scored_judgments, study_results
from annotation.simulation import driver
from annotation.simulation.driver import run_pilot
from annotation.stats import accuracy_summary
from testkit.factories import ImagePoolFactory, answer_all, open_study, start

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def pilot_study(images: int = 60, items: int = 40, judgments: int = 10, **values):
    pools = [ImagePoolFactory(kind="real", size=images), ImagePoolFactory(kind="generated", size=images)]
    return open_study(pools, items_per_assignment=items, judgments_per_item=judgments, **values)


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_observers_through_http_reach_the_accuracy_the_model_predicts(live_server):
    study = pilot_study(feedback="randomised")
    report = run_pilot(study.pk, observers=6, seed=1, base_url=live_server.url, params={"default_d_prime": 1.0})
    assert report.finished == 6 and not report.full
    # Every answer went through the flow and was stored, each assignment submitted, each annotator marked.
    assert Judgment.objects.count() == report.judgments == 6 * 40
    assert set(Assignment.objects.values_list("stage", flat=True)) == {Assignment.Stage.SUBMITTED}
    assert set(Annotator.objects.values_list("simulated", flat=True)) == {True}
    assert Annotator.objects.filter(feedback=True).count() == 3  # the study's own randomisation, balanced
    summary = accuracy_summary(scored_judgments(study, simulated="only"))
    expected = norm.cdf(0.5)  # d′ = 1, c = 0: Φ(0.5) = 69.1%
    assert summary.accuracy == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / summary.n))
    assert Judgment.objects.filter(feedback_shown=True).count() == 3 * 40


def test_timed_exposure_reaches_the_observer_and_moves_the_staircase(live_server):
    study = pilot_study(protocol="hype_time", feedback="each", items=40, block_size=20)
    params = {"default_d_prime": 3.0, "threshold_ms": 300.0}
    run_pilot(study.pk, observers=2, seed=2, base_url=live_server.url, params=params)
    table = scored_judgments(study, simulated="only")
    assert len(table) == 80 and (table.exposure_ms[table.trial == 0] == 500).all()
    # Right answers shorten the exposure: an observer at 75% right by 300 ms comes down from 500 ms.
    assert table.exposure_ms[table.trial == 39].mean() < 500


def test_simulated_judgments_stay_out_of_human_results_and_are_labelled_in_exports(live_server, client):
    from testkit.factories import StaffFactory

    client.force_login(StaffFactory())
    study = pilot_study(items=10, judgments=5)
    human = answer_all(start(study, "person"), rule=lambda item: not item.item.truth_real)  # always wrong
    run_pilot(study.pk, observers=2, seed=3, base_url=live_server.url, params={"default_d_prime": 4.0})

    people = study_results(study)
    assert people.n_judgments == human and people.n_annotators == 1 and people.rows[0].accuracy.accuracy == 0
    assert study_results(study, simulated="include").n_judgments == human + 20
    alone = study_results(study, simulated="only")
    assert alone.n_annotators == 2 and alone.rows[0].accuracy.accuracy > 0.8
    row = alone.rows[0]
    assert row.accuracy_two_way == stats.two_way_accuracy_interval(scored_judgments(study, simulated="only"))
    assert row.hype_two_way == pytest.approx((1 - row.accuracy_two_way[1], 1 - row.accuracy_two_way[0]))
    with pytest.raises(ValueError, match="simulated"):
        scored_judgments(study, simulated="maybe")

    page = client.get(reverse("annotation:results", args=[study.pk])).content.decode()
    assert "judgments of 2 simulated observers are left out" in page and "over annotators and images" in page
    page = client.get(reverse("annotation:results", args=[study.pk]) + "?simulated=only").content.decode()
    assert "Simulated observers only" in page
    page = client.get(reverse("annotation:results", args=[study.pk]) + "?simulated=include").content.decode()
    assert "Simulated observers included" in page

    rows = csv_rows(client.get(reverse("annotation:export_judgments", args=[study.pk])))
    labelled = {row["annotator"]: row["simulated"] for row in rows}
    person = Annotator.objects.get(simulated=False).pseudonym
    assert labelled.pop(person) == "0" and set(labelled.values()) == {"1"} and len(labelled) == 2
    admin_export = client.post(
        reverse("admin:annotation_study_changelist"), {"action": "export_judgments", "_selected_action": [study.pk]}
    )
    assert {row["simulated"] for row in csv_rows(admin_export)} == {"0", "1"}
    summary = csv_rows(client.get(reverse("annotation:export_summary", args=[study.pk])))
    assert {row["simulated"] for row in summary} == {"exclude"}
    summary = csv_rows(client.get(reverse("annotation:export_summary", args=[study.pk]) + "?simulated=only"))
    assert {row["simulated"] for row in summary} == {"only"}
    assert any(row["statistic"] == "two_way_ci_low" for row in summary)


def test_the_command_runs_observers_and_refuses_what_it_cannot(live_server):
    study = pilot_study(items=10, judgments=1, images=20)
    out = io.StringIO()
    call_command("simulate_observers", study.public_id, "--n", "5", "--base-url", live_server.url, stdout=out)
    # 40 images (20 real, 20 generated) judged once each, 10 per sequence: four observers fill it, the fifth finds
    # it full.
    assert "4 simulated observers finished" in out.getvalue() and "(the study is full)" in out.getvalue()
    assert Judgment.objects.count() == 40
    with pytest.raises(CommandError, match="study: no study"):
        call_command("simulate_observers", "nope", "--base-url", live_server.url)
    with pytest.raises(CommandError, match="--pool-d-prime"):
        call_command("simulate_observers", str(study.pk), "--pool-d-prime", "x", "--base-url", live_server.url)
    close_study(study)
    with pytest.raises(CommandError, match="open it"):
        call_command("simulate_observers", str(study.pk), "--base-url", live_server.url)
    with pytest.raises(ValueError, match="unknown observer parameter"):
        run_pilot(study.pk, observers=1, seed=0, base_url=live_server.url, params={"dprime": 1})


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One real worker on this test's database and the session's Redis queues (emptied first)."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    stale = list(client.scan_iter(match=f"{os.environ['CELERY_KEY_PREFIX']}*"))
    if stale:
        client.delete(*stale)
    client.close()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "ANNOTATION_MIN_ANSWER_MS": "0",
    }
    log = (tmp_path / "worker.log").open("wb")
    command = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-n", "pilot@%h", "-Q", "cpu",
               "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield proc
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()


def test_the_admin_pilot_confirms_then_a_worker_runs_the_observers(live_server, worker, client, settings):
    from testkit.factories import StaffFactory

    client.force_login(StaffFactory())
    settings.ANNOTATION_SIMULATION_BASE_URL = live_server.url
    study = pilot_study(items=10, judgments=3, images=20)
    url = reverse("admin:annotation_study_changelist")
    selected = {"action": "pilot", "_selected_action": [study.pk]}
    page = client.post(url, selected)
    assert (
        page.status_code == 200 and b"Start the pilot" in page.content and b"marked <strong>simulated" in page.content
    )
    assert Annotator.objects.count() == 0  # nothing happens before the confirmation
    refused = client.post(
        url, {**selected, "confirm": "yes", "observers": "0", "d_prime": "1", "lapse": "0", "seed": "0"}
    )
    assert b"Start the pilot" in refused.content and Annotator.objects.count() == 0
    done = client.post(url, {**selected, "confirm": "yes", "observers": "3", "d_prime": "1", "lapse": "0", "seed": "0"})
    assert done.status_code == 302
    deadline = time.monotonic() + 120
    while Assignment.objects.filter(stage=Assignment.Stage.SUBMITTED).count() < 3:
        assert time.monotonic() < deadline and worker.poll() is None, "the pilot did not finish on the worker"
        time.sleep(0.2)
    assert Judgment.objects.count() == 30 and set(Annotator.objects.values_list("simulated", flat=True)) == {True}
    close_study(study)
    closed = client.post(url, selected, follow=True)
    assert b"Select one open study" in closed.content


def test_a_site_that_cannot_be_reached_is_a_clear_error_after_retries(monkeypatch):
    monkeypatch.setattr(driver, "RETRY_S", 0.01)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once the socket closes: nothing listens there
    study = pilot_study(items=10, judgments=1, images=20)
    with pytest.raises(driver.DriverError, match=rf"GET http://127.0.0.1:{port}/s/.*still after 8 tries"):
        run_pilot(study.pk, observers=1, seed=0, base_url=f"http://127.0.0.1:{port}", params={})
    assert Annotator.objects.count() == 0


def test_observers_take_the_qualification_and_pass_or_fail_it_by_their_sensitivity(live_server):
    # 30 real and 30 generated qualification images: a blind observer (d′ = 0) passes 65% on both halves by chance
    # with probability ~0.2%, where 10 and 10 would let it pass ~3% of the time and make the test flaky.
    study = pilot_study(images=60, items=10, judgments=5, require_qualification=True, qualification_items=60)
    run_pilot(study.pk, observers=2, seed=4, base_url=live_server.url, params={"default_d_prime": 4.0})
    run_pilot(study.pk, observers=2, seed=5, base_url=live_server.url, params={"default_d_prime": 0.0})
    sharp, blind = Annotator.objects.order_by("id")[:2], Annotator.objects.order_by("id")[2:]
    assert {a.qualification for a in sharp} == {Annotator.Qualification.PASSED}
    assert {a.qualification for a in blind} == {Annotator.Qualification.FAILED}
    assert Assignment.objects.filter(stage=Assignment.Stage.DISQUALIFIED).count() == 2
    # Only those who passed reach the test images, and only test judgments are scored.
    assert len(scored_judgments(study, simulated="only")) == 2 * 10
    assert Judgment.objects.filter(assignment_item__phase="qualification").count() == 4 * 60
