"""deploy/'s files agree with the code and with each other: no Docker engine here, so the compose file, the
Dockerfiles, the systemd units and the nginx site are read as their programs would read them and checked
against the settings, the Celery routes and the commands the other tests run for real."""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
import yaml
from celery.utils.nodenames import host_format

from testkit.deploy import DEPLOY, REPO, gpu_workers, unit_command
from webapp import health

COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
UNITS = sorted(path.name for path in (DEPLOY / "systemd").glob("*.service"))


def _argv(command: str | list[str]) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    # A shell's script (`sh -c "migrate && ... && exec granian ..."`) read as the words the shell runs.
    return shlex.split(argv[2]) if argv[:2] == ["sh", "-c"] else argv


def _granian_args(argv: list[str]) -> list[str]:
    """granian's options from `granian ... APP`, wherever it sits in a command line, without --host."""
    start = next(i for i, arg in enumerate(argv) if arg.endswith("granian"))
    args = argv[start + 1 :]
    i = args.index("--host")
    return args[:i] + args[i + 2 :]


def _dockerfile(name: str) -> str:
    return (DEPLOY / "docker" / name).read_text().replace("\\\n", " ")


def _cmd(name: str) -> list[str]:
    (line,) = re.findall(r"^CMD (\[.*\])$", _dockerfile(name), flags=re.MULTILINE)
    return yaml.safe_load(line)


def test_every_service_has_a_health_check():
    assert {"postgres", "redis", "web", "nginx", "worker-gpu", "worker-cpu", "beat", "flower"} <= set(SERVICES)
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_web_and_nginx_probe_the_health_endpoint_the_app_serves():
    web_probe = " ".join(SERVICES["web"]["healthcheck"]["test"])
    nginx_probe = " ".join(SERVICES["nginx"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:8000{health.PATH}" in web_probe
    assert f"http://127.0.0.1{health.PATH}" in nginx_probe
    assert "--host 0.0.0.0 --port 8000" in " ".join(_argv(SERVICES["web"]["command"]))


def test_granian_runs_alike_in_compose_the_image_and_systemd():
    """tests/deploy/test_granian.py starts the unit's command line: the others must be the same."""
    unit = _granian_args(unit_command("visual-turing-lab-web.service"))
    assert unit[-1] == "webapp.wsgi:application" and unit[unit.index("--interface") + 1] == "wsgi"
    assert _granian_args(_argv(SERVICES["web"]["command"])) == unit
    assert _granian_args(_cmd("Dockerfile.web")) == unit


def test_workers_consume_the_queues_tasks_are_routed_to():
    consumed = set()
    for argv in (
        list(gpu_workers().WORKER_ARGS),
        _argv(SERVICES["worker-cpu"]["command"]),
        unit_command("visual-turing-lab-cpu-worker.service"),
        unit_command("visual-turing-lab-gpu-worker@.service"),
    ):
        consumed |= set(argv[argv.index("-Q") + 1].split(","))
    assert consumed == set(health.routed_queues()) == {"gpu", "cpu"}
    assert _argv(SERVICES["worker-gpu"]["command"])[-1] == "deploy/gpu_workers.py"
    assert _cmd("Dockerfile.worker") == ["python", "deploy/gpu_workers.py"]
    assert "COPY deploy/gpu_workers.py ./deploy/gpu_workers.py" in _dockerfile("Dockerfile.worker")


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_units_name_workers_celery_can_expand(unit):
    argv = unit_command(unit)
    assert argv[0].startswith("/opt/visual-turing-lab/.venv/bin/")
    text = (DEPLOY / "systemd" / unit).read_text()
    assert "EnvironmentFile=/etc/visual-turing-lab/env" in text and "WorkingDirectory=/opt/visual-turing-lab" in text
    if "-n" in argv:
        # systemd expands %i and %% first, then celery its own %h.
        name = argv[argv.index("-n") + 1].replace("%i", "0").replace("%%", "%")
        assert host_format(name, host="gpu-host.lab").endswith("@gpu-host.lab"), name


def test_volumes_and_paths_match_the_settings_and_the_nginx_site():
    site = (DEPLOY / "nginx" / "visual-turing-lab.conf").read_text()
    environment = SERVICES["web"]["environment"]
    static = environment["STATIC_ROOT"]
    assert f"alias {static}/;" in site
    assert f"static:{static}:ro" in SERVICES["nginx"]["volumes"]
    assert f"static:{static}" in SERVICES["web"]["volumes"]
    assert "server web:8000;" in site
    for name in ("web", "worker-gpu", "worker-cpu", "beat"):
        service = SERVICES[name]
        assert service["environment"]["ARTIFACTS_DIR"] == "/srv/artifacts", name
        assert "artifacts:/srv/artifacts" in service["volumes"], f"{name} does not see the artifacts"
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:6379/")
        assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]
    assert SERVICES["worker-cpu"]["environment"]["CUDA_VISIBLE_DEVICES"] == ""
    declared = set(COMPOSE["volumes"])
    for service in SERVICES.values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), mount
            else:
                assert source in declared, mount
    for name in ("Dockerfile.web", "Dockerfile.worker"):
        for source in re.findall(r"^COPY (\S+)", _dockerfile(name), flags=re.MULTILINE):
            assert (REPO / source).exists(), f"{name} copies {source}, which is missing"


def test_the_images_install_what_production_runs():
    """Each image installs its role of pyproject.toml: the servers must be in the roles, not only in dev's."""
    roles = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    production = "\n".join(roles["web"] + roles["worker"])
    for package in ("Django==", "celery==", "gunicorn==", "flower==", "psycopg"):
        assert package in production
    for name, role in (("Dockerfile.web", "web"), ("Dockerfile.worker", "worker")):
        assert f'pip install --no-cache-dir ".[{role}]"' in _dockerfile(name)
    assert "torch==" not in "\n".join(roles["web"]) and "torch==" in "\n".join(roles["worker"])


def test_a_gpu_host_runs_the_main_hosts_gpu_worker_against_its_servers():
    remote = yaml.safe_load((DEPLOY / "compose.gpu-host.yaml").read_text())["services"]
    assert set(remote) == {"worker-gpu"}
    (worker,) = remote.values()
    main = SERVICES["worker-gpu"]
    assert "depends_on" not in worker, "its PostgreSQL and Redis are the main host's"
    assert worker["command"] == main["command"] and worker["healthcheck"]["test"] == main["healthcheck"]["test"]
    assert worker["deploy"] == main["deploy"]
    for name in ("ARTIFACTS_DIR", "GAN_CACHE_DIR", "GAN_DATA_DIR", "NVIDIA_DRIVER_CAPABILITIES"):
        assert worker["environment"][name] == main["environment"][name], name
    assert worker["environment"]["DATABASE_URL"].startswith("${DATABASE_URL:?")
    assert worker["environment"]["REDIS_URL"].startswith("${REDIS_URL:?")
    assert any(m.startswith("${ARTIFACTS_MOUNT") and m.endswith(":/srv/artifacts") for m in worker["volumes"])
    assert main["environment"]["GAN_CACHE_DIR"].startswith(main["environment"]["ARTIFACTS_DIR"] + "/")
