# The two commands the README starts with: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
NPM ?= npm

.PHONY: serve test venv install install-test web webtest lint typecheck pytest clean regen

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

install: venv
	$(BIN)/python -m pip install -q -e .

install-test: venv
	$(BIN)/python -m pip install -q -e '.[test]'

# The viewer page: built into src/owncastd/webserver/static/, which the wheel ships.
web:
	@if [ -f web/package.json ]; then \
		if command -v $(NPM) >/dev/null 2>&1; then \
			cd web && $(NPM) ci --no-audit --no-fund --loglevel=error && $(NPM) run --silent build; \
		else \
			echo "npm not found: the viewer page is not built (install Node.js)"; \
		fi; \
	fi

serve: install web
	$(BIN)/owncastd serve --data-dir $(DATA_DIR)

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck:
	$(BIN)/mypy --strict src/

pytest:
	$(BIN)/python -m pytest

webtest:
	@if [ -f web/package.json ]; then cd web && $(NPM) test --silent && $(NPM) run --silent size; fi

# pytest runs last, so its summary is the run's closing line.
test: install-test web lint typecheck webtest pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/owncastd/webserver/static

# Rewrite the files generated from the config schema: owncastd.toml.example and the key table
# in docs/configuration.md (tests/test_config.py checks both are current).
regen: venv
	$(BIN)/python -c "from owncastd.config import example_toml; open('owncastd.toml.example', 'w').write(example_toml())"
	$(BIN)/python -c "import re, owncastd.config as c; p = 'docs/configuration.md'; t = open(p).read(); s, e = '<!-- keys:start -->\n', '<!-- keys:end -->'; open(p, 'w').write(t[: t.index(s) + len(s)] + c.reference_markdown() + t[t.index(e) :])"
