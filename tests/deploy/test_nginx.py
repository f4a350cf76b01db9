"""deploy/nginx's site in front of the real granian, in a private nginx (its own prefix, config and port): study
images leave it with one set of headers whatever their truth, and static files with the year-long cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from annotation import images
from annotation.actions.answers import next_item, record_judgment
from annotation.models import AssignmentItem
from testkit.deploy import (
    DEPLOY,
    REPO,
    answers,
    database_url_for_tests,
    production_environment,
    request,
)
from testkit.factories import open_study, start
from testkit.servers import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "lab.example.org"
# Headers that differ between two responses whatever is served: the clock, and the body's length.
PER_RESPONSE = {"date", "content-length"}

MAIN_CONF = """
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/site.conf;
}}
"""


def site_conf(upstream_port: int, port: int, static_root: Path) -> str:
    """The project's site with this test's addresses and folders, and nothing else changed."""
    text = (DEPLOY / "nginx" / "visual-turing-lab.conf").read_text()
    for old, new in (
        ("server web:8000;", f"server 127.0.0.1:{upstream_port};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("alias /srv/static/;", f"alias {static_root}/;"),
    ):
        assert text.count(old) == 1, f"deploy/nginx/visual-turing-lab.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture
def nginx(tmp_path):
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: apt-get install nginx (scripts/setup.sh does)")
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    procs = []

    def start_nginx(upstream_port: int, static_root: Path) -> int:
        port = free_port()
        (prefix / "site.conf").write_text(site_conf(upstream_port, port, static_root))
        # As root, nginx's workers drop to nobody, who cannot enter pytest's private folders.
        user = "user root;" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(MAIN_CONF.format(user=user, prefix=prefix))
        log = prefix / "stderr.log"
        with log.open("wb") as out:
            procs.append(subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], stderr=out))
        wait_for(lambda: answers(port, "/nothing-here") or procs[-1].poll() is not None, 20, "nginx to listen", log)
        assert procs[-1].poll() is None, log.read_text() + (prefix / "error.log").read_text()
        return port

    yield start_nginx
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=20)


def test_study_images_and_static_files_through_nginx(granian, nginx, tmp_path, settings):
    settings.ANNOTATION_MIN_ANSWER_MS = 0  # the answers are this test's own, made in this process
    study = open_study(items_per_assignment=10)
    assignment = start(study)
    static_root = tmp_path / "static"
    env = {
        **production_environment(tmp_path / "data"),
        # Plain HTTP here: nginx tells Django so, and HTTPS would redirect every request.
        "DJANGO_SECURE_SSL": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_KEY_PREFIX": os.environ["CELERY_KEY_PREFIX"],
        "ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
        "STATIC_ROOT": str(static_root),
    }
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collect.returncode == 0, collect.stderr
    port = nginx(granian(env).port, static_root)
    via_nginx = {"Host": HOST}

    health = request(port, "/health/")
    assert health.status == 200 and json.loads(health.body)["database"] == {"ok": True}

    header_sets: dict[bool, set[tuple[tuple[str, str], ...]]] = {True: set(), False: set()}
    while (item := next_item(assignment)) is not None:
        response = request(port, reverse("annotation:image", args=[item.token]), headers=via_nginx)
        assert response.status == 200, response.body
        item = AssignmentItem.objects.select_related("item__pool").get(pk=item.pk)
        assert response.body == images.study_image_path(item.item.study.public_id, item.item_id).read_bytes()
        headers = tuple(sorted((k.lower(), v) for k, v in response.headers if k.lower() not in PER_RESPONSE))
        header_sets[item.item.truth_real].add(headers)
        record_judgment(assignment, item.token, answer_real=True, response_ms=800)
    assert header_sets[True] and header_sets[False], "the assignment must show both kinds"
    assert header_sets[True] == header_sets[False] and len(header_sets[True]) == 1, header_sets
    (headers,) = header_sets[True]
    names = [name for name, _ in headers]
    assert len(names) == len(set(names)), f"a header sent twice: {headers}"
    sent = dict(headers)
    for name, value in images.IMAGE_HEADERS.items():
        assert sent[name.lower()] == value
    assert sent["content-type"] == "image/png"
    for leaky in ("last-modified", "etag", "content-disposition", "expires", "accept-ranges", "set-cookie"):
        assert leaky not in sent, f"{leaky}: {sent[leaky]}"

    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["annotation/task.js"]
    assert hashed != "annotation/task.js", "collectstatic must name files by their content"
    page = request(port, assignment.get_absolute_url(), headers=via_nginx)
    assert page.status == 200 and f"/static/{hashed}".encode() in page.body
    script = request(port, f"/static/{hashed}", headers=via_nginx)
    assert script.status == 200 and script.body == (static_root / hashed).read_bytes()
    assert script.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert "javascript" in script.header("Content-Type")


def test_nginx_rate_limits_the_login_and_the_annotators_pages(nginx, tmp_path):
    """limit_req per address, answered by nginx itself: the upstream here is a closed port, so a request let through
    answers 502 and a limited one 429. The login is limited wherever DJANGO_ADMIN_PATH puts it; other pages are not."""
    port = nginx(free_port(), tmp_path / "static")

    def statuses(path: str, n: int) -> list[int]:
        return [request(port, path).status for _ in range(n)]

    login = statuses("/admin/login/?next=/runs/", 30)
    assert login[:21] == [502] * 21, "a burst of 20 past the first goes through"
    assert login[-5:] == [429] * 5, login
    assert statuses("/lab-staff/login/", 1) == [429], "one budget for any admin path"
    assert set(statuses("/runs/", 50)) == {502}, "the dashboard is not limited"

    token = "a" * 22
    api = statuses(f"/s/a/{token}/state", 160)
    assert api[:101] == [502] * 101, "an annotator's pace, a reload and the images pass"
    assert api[-5:] == [429] * 5, api
    assert statuses(f"/s/i/{token}", 1) == [429], "one budget for the annotators' pages"
