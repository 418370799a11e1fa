# judge: make targets. Every target sets up .venv first (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/default.yaml
STAMP  := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: venv run generate judge score calibrate report plan test lint bench bench-calibration clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

run: venv
	$(BIN)/judge run $(CONFIG)

plan: venv
	$(BIN)/judge plan $(CONFIG)

generate: venv
	$(BIN)/judge generate $(CONFIG)

judge score: venv
	$(BIN)/judge score $(CONFIG)

calibrate: venv
	$(BIN)/judge calibrate $(CONFIG)

report: venv
	$(BIN)/judge report $(CONFIG)

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check judge tests bench
	$(BIN)/judge rubrics lint rubrics

bench: venv
	$(BIN)/python bench/run.py

bench-calibration: venv
	$(BIN)/python bench/calibration_coverage.py

clean:
	rm -rf $(VENV) runs .cache .pytest_cache .ruff_cache *.egg-info
