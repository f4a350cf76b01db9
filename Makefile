# The README's two commands: `make demo` and `make test`. Both set the machine up first.
PY := .venv/bin/python
DEMO_DIR ?= var/demo

.PHONY: setup demo test lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m gan_engine demo --out $(DEMO_DIR)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: setup lint
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/train_step.py
