# The README's two commands: `make demo` and `make test`. Both set the machine up first.
PY := .venv/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: setup demo test lint bench

setup:
	@bash scripts/setup.sh

# Embedded defaults whatever the caller's environment holds: SQLite and the file broker under var/webapp/.
demo: setup
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=1 $(PY) manage.py demo --host $(HOST)

# lint-imports: the layering contracts of pyproject.toml (docs/architecture.md).
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

test: setup lint
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/train_step.py
