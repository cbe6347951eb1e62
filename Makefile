# liangwang-assist — the commands a newcomer needs. See README.md.
#   make run    the whole stack on the embedded default (SQLite), installing what is missing
#   make test   everything CI checks
#   make audit  known vulnerabilities in both lock files, against a reasoned allow-list
#   make bench  the benchmarks, written to docs/benchmarks.md
#               (one suite: make bench BENCH_ARGS="--only stack")

SHELL := /bin/bash
BIN := .venv/bin

.PHONY: setup run test lint audit typecheck validate train test-dialogue pytest bench lock nlu

setup:
	@scripts/setup.sh

# make run PROFILE=scaled: PostgreSQL, Redis, replicas behind HAProxy (LIANGWANG_* in .env).
run: setup
	$(if $(PROFILE),LIANGWANG_PROFILE=$(PROFILE) )$(BIN)/liangwang run

test: setup lint typecheck validate train test-dialogue pytest

# lint-imports checks the dependency rules between our packages ([tool.importlinter] in
# pyproject.toml). Its graph builds in well under a second: no cache directory in the tree.
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

# Known vulnerabilities in both lock files (pip-audit against PyPI's advisories), each
# finding accepted only with its reason in requirements/audit-allowlist.toml; a stale entry
# or a package that could not be audited fails it too (ops/audit.py).
# Not yet a prerequisite of test: PyPI's per-version JSON API, which pip-audit reads, does
# not answer on our machines (nor on CI's), so there the audit can only fail.
audit:
	$(BIN)/python -m ops.audit

typecheck:
	$(BIN)/mypy

validate:
	$(BIN)/liangwang validate

train:
	$(BIN)/liangwang train

test-dialogue:
	$(BIN)/liangwang test-dialogue

pytest:
	$(BIN)/pytest -q

# Regenerate NLU lookups, synonyms, ask_service examples and the Jieba dictionary from the
# sample catalog. A test fails when they are out of date.
nlu: setup
	$(BIN)/liangwang catalog nlu

bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Re-resolve the application environment from pyproject.toml and rewrite its lock file.
lock:
	scripts/lock.sh
