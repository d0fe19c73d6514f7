# The two commands of the README. Each creates .venv if missing and installs the
# pinned dependencies (again only when pyproject.toml changed); make test also
# installs Chromium for the report's browser test and, as root, .venv-slurm for the
# SLURM tests.
VENV ?= .venv
PYTHON ?= python3
CORES ?= all
CONFIG ?= config/config.yaml
STAMP := $(VENV)/.installed
# The SLURM environment: ferflow plus the SLURM executor plugins (TF=gpu for the CUDA build)
SLURM_VENV ?= .venv-slurm
TF ?= cpu
SLURM_STAMP := $(SLURM_VENV)/.installed-$(TF)

.PHONY: run test lint test-other-isa test-long browser slurm-env dry-run clean-results

# onnxruntime-web and playwright-core (the browser page, export format web / ferflow demo,
# and its tests), exactly as web/package-lock.json locks them
WEB_STAMP := web/node_modules/.installed

run: $(STAMP) $(WEB_STAMP)  ## run the whole pipeline on the built-in synthetic faces
	$(VENV)/bin/snakemake --cores $(CORES) --configfile $(CONFIG)

# The second oneDNN kernel path: the tests marked `outcome` (they assert what a training
# learned) run again with oneDNN held below this CPU's instruction set, so that a test
# which holds on one CPU's floating-point path only fails here, not on the next machine:
# on a CPU with AVX-512 under AVX2 (the kernels of an AVX2-only CPU), on an AVX2 CPU under
# SSE41 (the path that caught the crop test). make test reruns those not marked long
# (2 tests, ~2 min); the long ones (7 in all, 8-33 min there) are make test-long, measured
# on all four paths in benchmarks/RESULTS.md ("Tests that assert a training's outcome").
AVX512 := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes)
OTHER_ISA ?= $(if $(AVX512),AVX2,SSE41)
OTHER_ISA_TESTS ?= outcome and not long

# The SLURM tests need root (they install and start a cluster): only then the SLURM env.
# With PYTEST_ARGS (a selection of tests) the second path is left out: make test-other-isa.
test: $(STAMP) $(WEB_STAMP) lint browser $(if $(filter 0,$(shell id -u)),$(SLURM_STAMP))  ## run the test suite
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
	$(if $(PYTEST_ARGS),@echo "PYTEST_ARGS given: the second oneDNN kernel path left out (make test-other-isa)",$(MAKE) --no-print-directory test-other-isa)

# the Python linter (pyflakes, import order, bugbear; pyproject.toml [tool.ruff]), first: seconds
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests workflow/scripts benchmarks

test-other-isa: $(STAMP)  ## the tests marked outcome (not long) on the second oneDNN kernel path
	@echo "the tests marked '$(OTHER_ISA_TESTS)' again, on a second oneDNN kernel path: ONEDNN_MAX_CPU_ISA=$(OTHER_ISA)"
	ONEDNN_MAX_CPU_ISA=$(OTHER_ISA) $(VENV)/bin/python -m pytest -m "$(OTHER_ISA_TESTS)"

test-long: $(STAMP)  ## every outcome test on the second oneDNN kernel path (beyond make test's budget)
	ONEDNN_MAX_CPU_ISA=$(OTHER_ISA) $(VENV)/bin/python -m pytest -m outcome

# Chromium (Debian package) for the report's headless-browser test; installed when
# missing and we are root, else that one test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for the report's browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium missing and not root: the report's browser test will be skipped"; fi; }

dry-run: $(STAMP)
	$(VENV)/bin/snakemake -n --cores $(CORES) --configfile $(CONFIG)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  echo "cd web && npm ci"; cd web && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "note: npm is missing: the browser page (export format web, ferflow demo) and its tests need Node.js and npm"; fi

slurm-env: $(SLURM_STAMP)  ## the environment that submits to SLURM (docs/cluster.md)

$(SLURM_STAMP): pyproject.toml
	test -x $(SLURM_VENV)/bin/python || $(PYTHON) -m venv $(SLURM_VENV)
	rm -f $(SLURM_VENV)/.installed-*  # switching builds: never both TensorFlows at once
	$(SLURM_VENV)/bin/python -m pip uninstall --quiet -y $(if $(filter gpu,$(TF)),tensorflow-cpu,tensorflow) 2>/dev/null || true
	$(SLURM_VENV)/bin/python -m pip install --quiet -e '.[$(TF),slurm]'
	touch $(SLURM_STAMP)

clean-results:
	rm -rf results/*/ .snakemake
