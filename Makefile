PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test,ssl,corpora,predict]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

demo: install
	$(BIN)/crossemo demo --out runs/demo --force

clean:
	rm -rf $(VENV) runs .pytest_cache
