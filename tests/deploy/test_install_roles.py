"""The install roles of pyproject.toml (`pip install .[web]`, `.[worker]`, `.[dev]`, each holding the one before
it): the web role carries everything the web process imports and never torch, which only the workers need."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from testkit.deploy import DEPLOY, REPO, answers, clean_environment, request, unit_command
from testkit.servers import free_port, wait_for

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
ROLES = PROJECT["optional-dependencies"]
# The engine's distributions: several GB that the web host never needs.
ENGINE_ONLY = {"torch", "torchvision", "torch-fidelity", "tensorboard"}
FIRST_PARTY = {"webapp", "runs", "annotation", "gan_engine"}
WEB_APPS = ("webapp", "runs", "annotation")


def role_pins(role: str) -> list[Requirement]:
    """A role's pins, with the roles it names (`visual-turing-lab[web]`) expanded into theirs."""
    pins: list[Requirement] = []
    for line in ROLES[role]:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
            for included in sorted(requirement.extras):
                pins += role_pins(included)
        else:
            pins.append(requirement)
    return pins


def installed_closure(pins: list[Requirement]) -> set[str]:
    """The distributions that installing the pins brings, their dependencies included, as this environment's
    metadata says (the dev role, installed here, holds every role's)."""
    seen: set[tuple[str, str]] = set()
    todo = [(canonicalize_name(pin.name), extra) for pin in pins for extra in {"", *pin.extras}]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for line in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(canonicalize_name(requirement.name), e) for e in {"", *requirement.extras}]
    return {name for name, _ in seen}


def _imports(tree: ast.AST, function_bodies: bool, module: str) -> Iterator[str]:
    """Absolute names of the modules a file imports, leaving out `if TYPE_CHECKING:` and, unless asked,
    what function bodies import (they run only when called)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not function_bodies:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from _imports(node, function_bodies, module)


def _first_party_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def web_process_imports() -> dict[str, str]:
    """Each top-level name the web process may import, with one file that imports it: everything the web
    apps' modules import (view and command bodies too), and what importing their task modules and the engine
    modules they name runs (task bodies, the workers' side, are left out)."""
    found: dict[str, str] = {}
    todo = [path for app in WEB_APPS for path in sorted((REPO / app).rglob("*.py"))]
    done: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in done:
            continue
        done.add(path)
        function_bodies = path.relative_to(REPO).parts[0] in WEB_APPS and path.name != "tasks.py"
        # A package's __init__ keeps its name: its relative imports count from the package itself.
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for name in _imports(ast.parse(path.read_text()), function_bodies, module):
            top = name.split(".")[0]
            found.setdefault(top, str(path.relative_to(REPO)))
            if top in FIRST_PARTY:
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    if (file := _first_party_file(".".join(parts[:i]))) and file not in done:
                        todo.append(file)
    return found


def test_each_pin_is_exact_and_in_one_role_only():
    names: list[str] = []
    for role, lines in ROLES.items():
        for line in lines:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                continue
            assert str(requirement.specifier).startswith("=="), f"{role}: {line} is not pinned"
            names.append(canonicalize_name(requirement.name))
    assert len(names) == len(set(names)), "a distribution pinned twice"
    # A matched pair: a torchvision built for another torch fails to import.
    worker = {canonicalize_name(pin.name) for pin in role_pins("worker")}
    assert {"torch", "torchvision"} <= worker
    assert {canonicalize_name(pin.name) for pin in role_pins("web")} < worker
    assert worker < {canonicalize_name(pin.name) for pin in role_pins("dev")}


def test_the_web_role_brings_no_torch():
    web = installed_closure(role_pins("web"))
    assert not web & ENGINE_ONLY, f"the web role installs {sorted(web & ENGINE_ONLY)}"
    assert installed_closure(role_pins("worker")) >= ENGINE_ONLY
    for server in ("gunicorn", "granian", "django", "celery", "psycopg", "django-storages", "boto3"):
        assert server in web, server
    assert "flower" in installed_closure(role_pins("worker")), "compose's flower runs from the worker image"


def test_the_web_role_covers_every_import_of_the_web_process():
    imported = web_process_imports()
    # What the settings name rather than import: apps, middleware, backends.
    for dotted in [*settings.INSTALLED_APPS, *settings.MIDDLEWARE, *settings.AUTHENTICATION_BACKENDS]:
        imported.setdefault(dotted.split(".")[0], "webapp/settings.py")
    web = installed_closure(role_pins("web"))
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for top, where in imported.items():
        if top in sys.stdlib_module_names or top in FIRST_PARTY or top == "__future__":
            continue
        distributions = {canonicalize_name(d) for d in providers.get(top, [])}
        if not distributions & web:
            missing[top] = (where, sorted(distributions))
    assert not missing, f"imported by the web process, not installed by the web role: {missing}"
    assert "numpy" in imported and "torch" not in imported


# --- The web role's install, for real ------------------------------------------------------------------------


def _copies(dockerfile: str) -> list[str]:
    """The repository paths a Dockerfile copies into its image."""
    text = (DEPLOY / "docker" / dockerfile).read_text().replace("\\\n", " ")
    return [source for line in re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE) for source in line.split()[:-1]]


_WEB_PROCESS = """
import importlib, sys
import django
from django.conf import settings
from django.core.management import call_command

django.setup()
call_command("check")
importlib.import_module(settings.ROOT_URLCONF)
importlib.import_module("webapp.wsgi")
assert "torch" not in sys.modules, "the web process loaded torch"
try:
    import torch
except ModuleNotFoundError:
    print("no torch")
"""


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_the_web_role_installs_and_serves_without_torch(tmp_path: Path):
    """What the web image holds, in a fresh virtual environment: the sources Dockerfile.web copies and
    `pip install .[web]` from the same pins (the package index, or pip's configured local wheels)."""
    app = tmp_path / "app"
    for source in _copies("Dockerfile.web"):
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, app / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            app.mkdir(exist_ok=True)
            shutil.copy(REPO / source, app / source)
    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    python = str(tmp_path / "venv" / "bin" / "python")
    env = {
        **{k: v for k, v in clean_environment().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DJANGO_DEBUG": "1",
        "WEBAPP_DATA_DIR": str(tmp_path / "data"),
    }
    # No byte-compiling: this environment lives for one test.
    _run([python, "-m", "pip", "install", "-q", "--no-compile", f"{app}[web]"], env=env)

    assert _run([python, "-c", _WEB_PROCESS], cwd=app, env=env).stdout.strip().endswith("no torch")

    argv = unit_command("visual-turing-lab-web.service")
    args = argv[argv.index(next(a for a in argv if a.endswith("/granian"))) + 1 :]
    port = free_port()
    args[args.index("--port") + 1] = str(port)
    log = tmp_path / "granian.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [python, "-m", "granian", *args, "--workers", "1"],
            cwd=app,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: answers(port) or server.poll() is not None, 90, "granian to answer", log)
        assert server.poll() is None, f"granian exited:\n{log.read_text()}"
        health = request(port, "/health/")
        assert health.status == 200, health.body
        assert json.loads(health.body)["database"] == {"ok": True}
        login = request(port, "/admin/login/")
        assert login.status == 200 and b'name="password"' in login.body, login.body[:500]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
