# The two commands of the README. Both create .venv and install the locked dependencies first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser run test lint bench classifier clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Debian's Chromium and a CJK font for the console's browser tests (installed when missing)
browser:
	@command -v chromium >/dev/null && dpkg -s fonts-noto-cjk >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium chromium-driver fonts-noto-cjk >/dev/null; }

## Command 1: the whole local stack with demo data (Ctrl-C stops it; state stays in var/)
run: install
	$(BIN)/demandflow up

## Command 2: the whole test suite on real servers
test: install browser
	$(BIN)/python -m pytest -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint --failure-threshold warning deploy/docker/Dockerfile

bench: install
	$(BIN)/python -m bench

## The learned classifier from the tuning reports (a new file: NAME=needs-tune-N; docs/intake.md)
classifier: install
	$(BIN)/python -m bench.train_classifier --out domain/models/$(NAME).json

clean:
	rm -rf $(VENV) var
