# pyscheduler — the two commands a new user needs are `make demo` and `make test`.
# Everything else here is a building block of those two.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml tests/plugins_oot/pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: help venv assets scheduler-assets lint typecheck unit wheel-check integration differential differential-fuzz gang-compare faults test demo bench bench-venv clean

help:
	@echo "make test   - ruff, mypy, unit, wheel, integration, differential and fault tests (installs what it needs)"
	@echo "make demo   - local control plane + KWOK nodes + pyscheduler, shows it scheduling"
	@echo "make bench  - benchmarks (hack/bench)"

$(STAMP): pyproject.toml tests/plugins_oot/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' -e tests/plugins_oot
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

# etcd, kube-apiserver, kwok, kustomize (renders manifests/ in the integration tests),
# metrics-server and Prometheus (the load-aware integration test), built
# from the Go module registry and cached outside the repo.
assets:
	@hack/build-components.sh etcd kube-apiserver kwok kustomize metrics-server prometheus >/dev/null

scheduler-assets:
	@hack/build-components.sh kube-scheduler >/dev/null

lint: $(STAMP)
	$(VENV)/bin/ruff check pyscheduler envtest tests hack

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

integration: $(STAMP) assets
	KUBEBUILDER_ASSETS="$$(hack/build-components.sh)" $(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

# pyscheduler against the real kube-scheduler on the same scenarios (tests/differential).
differential: $(STAMP) assets scheduler-assets
	KUBEBUILDER_ASSETS="$$(hack/build-components.sh)" $(PY) -m pytest -q tests/differential $(PYTEST_ARGS)

# Seeded random scenarios through the same harness (tests/differential/fuzz.py): COUNT of them
# from SEED; disagreeing ones are saved as YAML under FUZZ_OUT (printed) for replay with
# PYSCHEDULER_DIFF_SCENARIOS=<dir> make differential. `make differential` runs a small fixed one.
SEED ?= 1
COUNT ?= 100
START ?= 0
FUZZ_OUT ?= $(or $(TMPDIR),/tmp)/pyscheduler-fuzz-$(SEED)
differential-fuzz: $(STAMP) assets scheduler-assets
	KUBEBUILDER_ASSETS="$$(hack/build-components.sh)" PYSCHEDULER_FUZZ_SEED=$(SEED) \
		PYSCHEDULER_FUZZ_COUNT=$(COUNT) PYSCHEDULER_FUZZ_START=$(START) PYSCHEDULER_FUZZ_OUT=$(FUZZ_OUT) \
		$(PY) -m pytest -q tests/differential/test_fuzz.py $(PYTEST_ARGS)

# The competing-gangs workload under pyscheduler and under scheduler-plugins' own scheduler
# (hack/gang_compare.py, docs/GANG.md): partial groups and time to full placement, side by side.
# Builds scheduler-plugins (SCHEDULER_PLUGINS_VERSION in hack/versions.env) on first use.
GANG_COMPARE_ARGS ?=
gang-compare: $(STAMP) assets
	@hack/build-components.sh scheduler-plugins >/dev/null
	KUBEBUILDER_ASSETS="$$(hack/build-components.sh)" $(PY) hack/gang_compare.py $(GANG_COMPARE_ARGS)

# Fault scenarios (tests/faults, docs/TESTING.md "Fault suite"): apiserver restarts, etcd
# compaction, scheduler kills and stops, leader failover, races, 429s; every run checked against
# the audit log and the API. FAULTS_ARGS=--full for the full set; FAULTS_REPEAT=5 runs each
# scenario 5 times and counts passes; FAULTS_SCHEDULER_SOURCE=<dir> runs another checkout's
# scheduler (e.g. an old commit's git worktree).
FAULTS_ARGS ?=
FAULTS_REPEAT ?= 1
faults: $(STAMP) assets
	KUBEBUILDER_ASSETS="$$(hack/build-components.sh)" $(PY) -m pytest -q tests/faults \
		--repeat $(FAULTS_REPEAT) $(FAULTS_ARGS) $(PYTEST_ARGS)

# What `pip install .` gives a user: a clean virtualenv with the product alone (no test control
# plane, no test-only package), every module importable, `pyscheduler version` working.
wheel-check:
	PYTHON=$(PYTHON) hack/check-wheel.sh

test: lint typecheck unit wheel-check integration differential faults

# Benchmarks (hack/bench, docs/BENCHMARKS.md): the [bench] extra adds matplotlib (PNG) and
# pyinstrument (profile). BENCH_ARGS passes options, e.g. BENCH_ARGS=--scale.
BENCH_STAMP := $(VENV)/.bench-$(shell sha1sum pyproject.toml | cut -c1-12)
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	@rm -f $(VENV)/.bench-* && touch $@

bench-venv: $(BENCH_STAMP)

bench: bench-venv assets scheduler-assets
	$(PY) -m hack.bench $(BENCH_ARGS)

# A local control plane with KWOK nodes, pyscheduler, and a mixed workload; prints placements
# and the reasons for pods left pending. DEMO_ARGS=--keep leaves it running until Ctrl-C.
demo: $(STAMP) assets
	KUBEBUILDER_ASSETS="$$(hack/build-components.sh)" $(PY) -m hack.demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
