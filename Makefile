# Two commands: `make run` starts Ovillo on the embedded default; `make test` checks everything.
# Both create .venv and install the project into it when it is missing or out of date.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LINT_PATHS := $(wildcard src tests bench docs)
# The suites mostly wait on servers (platform, emulator, databases): three processes keep
# both cores busy. A module's tests stay together, so module fixtures are built once.
PYTEST_ARGS ?= -n 3 --dist loadfile
# The pages' front-end packages (htmx), from package-lock.json, served from node_modules/.
NODE_STAMP := node_modules/.installed-stamp
# The browser tests drive Debian's chromium; Playwright never downloads a browser here.
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint typecheck pytest install clean chromium messages screenshots

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Ovillo needs Python 3.11 or newer; set PYTHON=python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Ovillo's pages need npm (Node.js 18 or newer) to install htmx: 'apt-get install -y npm' on Debian/Ubuntu, 'brew install node' on macOS, or https://nodejs.org/en/download"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need chromium at $(CHROMIUM): 'sudo apt-get install -y chromium' on Debian/Ubuntu, or set CHROMIUM=/path/to/chromium"; exit 1; \
	  fi; }

install: $(STAMP) $(NODE_STAMP)

# Extract the pages' strings and merge them into the catalogs (then translate the new ones).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o $(VENV)/messages.pot --no-location --sort-output --project=Ovillo .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d src/ovillo/web/locale -D messages --no-fuzzy-matching --ignore-obsolete --width=100

# The README's pictures of the pages (docs/screenshots/*.png), from a throw-away platform.
screenshots: $(STAMP) $(NODE_STAMP) chromium
	OVILLO_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/python docs/screenshots/take.py

run: $(STAMP) $(NODE_STAMP)
	$(BIN)/ovillo serve

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(NODE_STAMP) chromium
	OVILLO_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
