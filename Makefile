# Two commands for a fresh machine with Python 3.11, make and the package registries:
#   make demo   set up, generate synthetic submissions, ingest them into ./workbench.duckdb, show the status
#   make test   set up and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := build/demo
DB     ?= workbench.duckdb

.PHONY: setup demo test lab lock clean benchmarks browser

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock workbench/web_assets.yaml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "workbench needs Python 3.11, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==25.3
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m workbench.assets fetch
	$(BIN)/python -m pip check
	$(BIN)/jupyter labextension disable "@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1 || true
	$(BIN)/jupyter labextension disable "@jupyterlab/extensionmanager-extension" >/dev/null 2>&1 || true
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/workbench synth --out $(DEMO) --seed 2011 --overwrite
	$(BIN)/workbench ingest --db $(DB) $$(find $(DEMO) -mindepth 1 -maxdepth 1 -type d ! -name ground_truth | sort)
	$(BIN)/workbench status --db $(DB)
	$(BIN)/workbench feedback --db $(DB) --all --lang en --lang ar --out build/feedback
	$(BIN)/workbench map --db $(DB) --out build/views/map.html
	$(BIN)/workbench graph --db $(DB) --out build/views/actors.html
	$(BIN)/workbench timeline --db $(DB) --out build/views/timeline.html
	@echo
	@echo "The store is $(DB); feedback reports are in build/feedback/, a map, the actor network and a timeline in build/views/."
	@echo "Open the notebooks with: make lab"

test: $(STAMP) browser
	$(BIN)/python -m pytest

# Headless Chromium draws maps, graphs and timelines in the rendering tests. It is a system package:
# installed here when it is missing and this is a Debian machine run as root (as CI is); otherwise
# install it yourself (Debian: apt install chromium) or point WORKBENCH_CHROMIUM at a Chromium.
browser:
	@command -v $${WORKBENCH_CHROMIUM:-chromium} >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the rendering tests"; \
		apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }; \
	else echo "The rendering tests need Chromium: apt install chromium, or set WORKBENCH_CHROMIUM"; exit 1; fi

lab: $(STAMP)
	WORKBENCH_DB=$(abspath $(DB)) $(BIN)/jupyter lab --no-browser notebooks/

benchmarks: $(STAMP) browser
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/feedback.py
	$(BIN)/python benchmarks/views.py
	$(BIN)/python benchmarks/casefile.py
	$(BIN)/python benchmarks/linkage.py --memory-limit 8GB
	$(BIN)/python benchmarks/entities.py
	$(BIN)/python benchmarks/entities.py --source synthetic

# Re-pin every transitive dependency after changing a pin in pyproject.toml.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet pip==25.3 setuptools==80.10.2
	build/lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	build/lock-venv/bin/python -m pip freeze --exclude-editable --all | grep -v '^pip==' > requirements.lock
	rm -rf build/lock-venv

clean:
	rm -rf $(VENV) build .pytest_cache
