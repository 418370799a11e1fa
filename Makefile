# judge: make targets. Every target sets up .venv first (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= configs/default.yaml
STAMP  := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: venv run generate judge score calibrate report plan test lint bench bench-calibration bench-findings clean

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

# The docs tests run their blocks in document order in one scratch directory and one Python
# namespace per document, so they run in one process of their own (xdist_group did not keep
# them on one worker: blocks of one document landed on both and failed by order). That
# process runs beside the xdist session rather than after it, so no core idles while the
# docs run alone; its output is shown when both are done, and either failing fails `make test`.
# Three xdist workers on CI's two cores: many tests wait on subprocesses, local servers and
# simulated latency, and a third worker fills those waits; idle workers steal queued tests
# (worksteal). Measured on a fresh clone: 12:13 with -n 2, 10:30-10:50 with -n 3 --dist
# worksteal, 10:45 with -n 4 (no gain). Handing the slowest tests out first (load
# scheduling) was slower, 13:40: it split modules whose fixtures are the slow part across
# workers.
test: venv
	@rm -f .docs-tests.log; \
	$(BIN)/python -m pytest -q -p no:xdist tests/test_docs.py > .docs-tests.log 2>&1 & docs=$$!; \
	trap "kill $$docs 2>/dev/null" INT TERM; \
	$(BIN)/python -m pytest -q -n 3 --dist worksteal --durations=25 --ignore=tests/test_docs.py; main=$$?; \
	wait $$docs; d=$$?; echo "--- tests/test_docs.py (ran alongside)"; cat .docs-tests.log; \
	rm -f .docs-tests.log; test $$main -eq 0 -a $$d -eq 0

lint: venv
	$(BIN)/ruff check judge tests bench
	$(BIN)/lint-imports
	$(BIN)/judge rubrics lint rubrics

bench: venv
	$(BIN)/python bench/run.py

bench-calibration: venv
	$(BIN)/python bench/calibration_coverage.py

bench-findings: venv
	$(BIN)/python bench/bench_findings.py --seeds 100 --groups 60 --json bench/findings.json

clean:
	rm -rf $(VENV) runs .cache .pytest_cache .ruff_cache *.egg-info .docs-tests.log

# ---- network (helper `net`): the flaky local endpoint, and the network benchmark alone.
.PHONY: serve-sim bench-network
SIM_PORT ?= 8000
SIM_ARGS ?= --latency-ms 200 --jitter-ms 50 --rate-429 0.10 --retry-after-s 2 --rate-500 0.03 \
            --rate-503 0.02 --rate-reset 0.02 --rate-hang 0.02 --hang-s 120 --rate-malformed 0.05

serve-sim: venv
	$(BIN)/judge serve-sim --port $(SIM_PORT) $(SIM_ARGS)

bench-network: venv
	$(BIN)/python bench/bench_network.py --json bench/network.json

# ---- a real model with no key and no network (docs/LOCAL_MODEL.md). `make local` builds
# llama-cpp-python (~40 min on 2 cores; pip caches the wheel) with flags that work on CPUs
# whose native build crashes (AMX); LOCAL_WHEELS=dir also looks for prebuilt wheels there.
.PHONY: local serve-local run-local
LOCAL_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
                    -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
LOCAL_WHEELS ?=
LOCAL_PORT ?= 8011
LOCAL_CONFIG ?= configs/local-smollm2.yaml

local: venv
	CMAKE_ARGS="$(LOCAL_CMAKE_ARGS)" $(BIN)/python -m pip install \
	  $(if $(LOCAL_WHEELS),--find-links $(LOCAL_WHEELS)) -e '.[local]'

serve-local: venv
	$(BIN)/judge serve-local --port $(LOCAL_PORT)

# Start the local server, run the config, write a labelling sheet for human raters, stop.
run-local: venv
	$(BIN)/judge serve-local --port $(LOCAL_PORT) --run $(LOCAL_CONFIG)
