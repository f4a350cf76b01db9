"""Production settings: `manage.py check --deploy` passes with the documented production environment and fails
with the insecure defaults, and deploy/.env.example names every variable the settings read."""

from __future__ import annotations

import re
import subprocess
import sys

from testkit.deploy import (
    DEPLOY,
    REPO,
    clean_environment,
    example_assignments,
    production_environment,
    settings_variables,
)

CHECK = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CHECK, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_with_the_production_environment(tmp_path):
    result = _check(production_environment(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_with_the_insecure_defaults(tmp_path):
    """The example as shipped (HTTPS off, its placeholder secret): the check is real, and names what is wrong."""
    values, _ = example_assignments()
    result = _check({**clean_environment(), **values, "WEBAPP_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert warning in result.stderr, result.stderr


def test_hsts_without_https_is_refused(tmp_path):
    env = {**production_environment(tmp_path), "DJANGO_SECURE_SSL": "0"}
    result = _check(env)
    assert result.returncode != 0
    assert "DJANGO_HSTS_SECONDS needs DJANGO_SECURE_SSL=1" in result.stderr


def test_the_example_names_every_setting_and_nothing_else():
    read = settings_variables()
    # The parser must see the settings' own ways of reading: a sample of each.
    assert {"DJANGO_SECRET_KEY", "DJANGO_DEBUG", "RUN_LEASE_SECONDS", "DJANGO_ALLOWED_HOSTS", "REDIS_URL"} <= read
    _, named = example_assignments()
    assert read - named == set(), f"deploy/.env.example does not name {sorted(read - named)}"
    engine = "\n".join(path.read_text() for path in (REPO / "gan_engine").rglob("*.py"))
    compose = "\n".join(path.read_text() for path in DEPLOY.glob("compose*.yaml"))
    elsewhere = {
        name
        for name in named - read
        if (name.startswith("GAN_") and f'"{name}"' in engine)
        or re.search(rf"\$\{{{name}[:}}]", compose)
        or (name == "CUDA_VISIBLE_DEVICES" and name in (DEPLOY / "gpu_workers.py").read_text())
        or name == "FLOWER_BASIC_AUTH"  # Flower reads FLOWER_<option> itself (compose's flower service)
    }
    assert named - read - elsewhere == set(), f"nothing reads {sorted(named - read - elsewhere)}"


def test_every_variable_compose_interpolates_is_in_the_example():
    _, named = example_assignments()
    for path in DEPLOY.glob("compose*.yaml"):
        interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", path.read_text()))
        assert interpolated and interpolated <= named, f"{path.name}: {sorted(interpolated - named)}"
