# Every target sets itself up: `make validate` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SOURCES ?= ../shared/sources

.PHONY: validate test lint bench dictionary setup clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cli,validate,publish,test]'
	touch $(STAMP)

setup: $(STAMP)

validate: $(STAMP)
	$(BIN)/opsledger validate datasets $(if $(wildcard $(SOURCES)),--sources $(SOURCES))

# two workers on the 2-core project machine (pytest-xdist); `pytest` alone runs the tests one by one
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks curation
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_validate.py

dictionary: $(STAMP)
	$(BIN)/opsledger dictionary --write docs/data-dictionary.md
	$(BIN)/opsledger rules --write docs/rules.md

clean-venv:
	rm -rf $(VENV)
