# Two commands matter: `make demo` (the main job) and `make test`. Both create .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
FMNIST  := /usr/share/datasets/fashion-mnist
WORDNET := /usr/share/wordnet
export OMP_NUM_THREADS ?= 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: setup demo test test-slow bench docs clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes. Fashion-MNIST, WordNet (AIM's brevity) and fonts (SAFL's generator)
# come from Debian (installed when running as root).
$(STAMP): pyproject.toml
	@if [ ! -d $(FMNIST) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
		|| echo "warning: could not install dataset-fashion-mnist; Fashion-MNIST tests will be skipped"; fi
	@if [ ! -f $(WORDNET)/data.noun ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		wordnet-base) >/dev/null || echo "warning: could not install wordnet-base; AIM's brevity will be skipped"; fi
	@if [ ! -d /usr/share/fonts/truetype/freefont ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		fonts-dejavu-core fonts-liberation fonts-freefont-ttf) >/dev/null \
		|| echo "warning: could not install the fonts; SAFL's generator needs DejaVu, Liberation and FreeFont"; fi
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/reprolab run all --scale quick --out runs
	$(BIN)/reprolab report runs

# One pytest process per core (pytest-xdist); a file's tests stay in one process, so its module fixtures run once.
test: setup
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/python -m pytest -q -n auto --dist loadfile --durations=10

# The report's browser test needs Debian's chromium (installed when running as root; skipped, with the reason, without).
test-slow: setup
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
		|| echo "warning: could not install chromium; the report's browser test will be skipped"; fi
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python -m benchmarks

# The documentation site (MkDocs + Material + mkdocstrings) into build/site; --strict turns every warning (a broken
# API reference, a missing page) into an error.
DOCSTAMP := $(VENV)/.docs-installed
$(DOCSTAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	touch $(DOCSTAMP)

docs: $(DOCSTAMP)
	$(BIN)/python scripts/docs_api.py docs/api
	$(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) runs .pytest_cache
