# `make run`: set everything up and start the chat on seeds/.   `make test`: set up and run the tests.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup run test chromium

setup: $(STAMP)

# The optional backends' extras (milvus, ray) too, so that their tests run.
# torch first, pinned: its CPU build (2.13.0) is the one pip finds locally; a bare `torch` pulls a CUDA build.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,milvus,ray]'
	touch $@

# Debian's chromium drives the browser tests (Playwright's own browser download does not work offline).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

run: setup
	$(VENV)/bin/qa serve

test: setup chromium
	$(PY) -m pytest -q
