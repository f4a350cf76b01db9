#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system packages, the virtual environment, the pinned
# dev role of pyproject.toml. Re-running it is cheap: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
command -v chromium >/dev/null || need_apt+=(chromium)
# nginx: tests/deploy runs its own (a private prefix and port) with deploy/nginx's site in front of gunicorn.
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.requirements.sha256
# pyproject.toml holds every pin: the dev role is the workers' install with the tests and lint tools.
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the dev role (pyproject.toml) into .venv (torch is large: first run takes minutes)"
  # The project itself, editable: the CLI, workers and benchmarks import it from any folder.
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
