# The two commands of the README. Each creates .venv if missing and installs the
# pinned dependencies (again only when pyproject.toml changed).
VENV ?= .venv
PYTHON ?= python3
CORES ?= all
CONFIG ?= config/config.yaml
STAMP := $(VENV)/.installed

.PHONY: run test dry-run clean-results

run: $(STAMP)  ## run the whole pipeline on the built-in synthetic faces
	$(VENV)/bin/snakemake --cores $(CORES) --configfile $(CONFIG)

test: $(STAMP)  ## run the test suite
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

dry-run: $(STAMP)
	$(VENV)/bin/snakemake -n --cores $(CORES) --configfile $(CONFIG)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

clean-results:
	rm -rf results/*/ .snakemake
