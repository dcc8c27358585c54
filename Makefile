# Two commands: `make run` and `make test`. Everything else here serves them.
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test check pytest clean

## make run: the demo, a game day on this machine (PostgreSQL, Prometheus and Alertmanager are installed
## as root on Debian when missing); Ctrl-C stops it. See docs/demo.md.
run: $(VENV)/.installed
	bash scripts/demo-prereqs.sh
	$(BIN)/handrail lint --strict
	$(BIN)/handrail demo

## make test: install what the tests need, then run the whole suite
test: $(VENV)/.installed-test
	bash scripts/test-services.sh
	$(MAKE) --no-print-directory check pytest

check: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest

$(VENV)/.installed: pyproject.toml
	bash scripts/bootstrap-python.sh $(VENV)
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	bash scripts/bootstrap-python.sh $(VENV)
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
