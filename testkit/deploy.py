"""What the deployment tests read and send: deploy/'s files read as the programs that use them would, the production
environment of deploy/.env.example, HTTP with the headers exactly as sent."""

from __future__ import annotations

import ast
import http.client
import importlib.util
import os
import re
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from django.db import connection

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"

_ENV_HELPERS = {"_env_bool", "_env_number", "_env_list"}


def settings_variables() -> set[str]:
    """Every environment variable webapp/settings.py reads: os.environ.get/[]/getenv and its _env_* helpers."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((REPO / "webapp" / "settings.py").read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in _ENV_HELPERS or func in ("os.environ.get", "os.getenv"):
                names.add(node.args[0].value)
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def example_assignments() -> tuple[dict[str, str], set[str]]:
    """deploy/.env.example: the values it sets, and every name it mentions (set, or shown commented out)."""
    values: dict[str, str] = {}
    named: set[str] = set()
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            values[match[1]] = match[2]
            named.add(match[1])
        elif match := re.fullmatch(r"# ?([A-Z][A-Z0-9_]*)=.*", line):
            named.add(match[1])
    return values, named


def clean_environment() -> dict[str, str]:
    """This process's environment without any setting of the web app (the tests' own included)."""
    drop = settings_variables()
    return {k: v for k, v in os.environ.items() if k not in drop and k != "DJANGO_SETTINGS_MODULE"}


def production_environment(data_dir: Path) -> dict[str, str]:
    """The example's values with what deploy/README.md says to change: a real secret, HTTPS on, HSTS on."""
    values, _ = example_assignments()
    return {
        **clean_environment(),
        **values,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL": "1",
        "DJANGO_HSTS_SECONDS": "31536000",
        "DJANGO_HSTS_PRELOAD": "1",
        "WEBAPP_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }


def unit_command(unit: str) -> list[str]:
    """A systemd unit's ExecStart, continuation lines joined, as argv."""
    text = (DEPLOY / "systemd" / unit).read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def gpu_workers() -> ModuleType:
    """deploy/gpu_workers.py, a script rather than a module of the project, loaded from its file."""
    spec = importlib.util.spec_from_file_location("gpu_workers", DEPLOY / "gpu_workers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]  # as sent: order, case and repeats kept
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def answers(port: int, path: str = "/health/") -> bool:
    """Whether something serves HTTP on the port (any status)."""
    try:
        request(port, path)
    except OSError:
        return False
    return True


def request(port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        raw = conn.getresponse()
        return Response(raw.status, raw.getheaders(), raw.read())
    finally:
        conn.close()


def database_url_for_tests() -> str:
    db = connection.settings_dict
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
