# matrixops.delegation -- development and test commands.
#
# `make test` is the one test command (CI runs it through .ci/run). It sets up
# everything it needs: virtual environments from requirements/, Debian packages.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# --- Python environments ---------------------------------------------------
# .venv: ansible-core 2.19 on Python 3.11 plus the lint tools.
# .venv-2.21: ansible-core 2.21 on Python 3.13 (or 3.12) for sanity/unit/integration.
PYTHON ?= python3
VENV := .venv
VENV_2_21 := .venv-2.21
REQUIREMENTS := requirements/ansible-2.19.txt
REQUIREMENTS_2_21 := requirements/ansible-2.21.txt
PYENV_ROOT ?= $(HOME)/.pyenv

# First Python 3.12+ that really runs (pyenv's shims exist for versions that are
# not selected, and fail): pyenv's 3.13, pyenv's 3.12, then PATH.
ifndef PYTHON_2_21
PYTHON_2_21 := $(shell for p in $(PYENV_ROOT)/versions/3.13*/bin/python3.13 \
	$(PYENV_ROOT)/versions/3.12*/bin/python3.12 python3.13 python3.12; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	&& { command -v "$$p"; break; }; done)
endif

# The ansible-core version of a venv (`ansible --version | head -1` fails with a broken pipe).
CORE_VERSION = $(1)/bin/python -c 'from ansible.release import __version__; print(__version__)'

# The environments the sanity, unit and integration tests run in.
TEST_VENVS := $(VENV) $(if $(PYTHON_2_21),$(VENV_2_21))
NO_2_21 := WARNING: no Python 3.12+ found (looked for python3.13/python3.12 in \
	$(PYENV_ROOT)/versions and on PATH): only ansible-core 2.19 / Python 3.11 is tested.

# --- The collection on an import path ----------------------------------------
# .build/collections/ansible_collections/matrixops/delegation -> the repository root.
COLLECTIONS := $(CURDIR)/.build/collections
COLLECTION_LINK := .build/collections/ansible_collections/matrixops/delegation
COLLECTION_ENV := ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) PYTHONPATH=$(COLLECTIONS)

# Debian packages the lab and the integration tests use.
DEB_PACKAGES := knot knot-dnsutils openssl nginx pebble certbot python3-certbot-dns-rfc2136 iproute2

# Extra arguments, e.g. `make unit PYTEST_ARGS='-k srv -x'`, `make sanity SANITY_ARGS='--test pylint'`.
PYTEST_ARGS ?=
SANITY_ARGS ?=

.PHONY: help test check venv deps collection-path lint format sanity unit integration molecule \
	robustness fuzz lab-up lab-down demo build clean distclean

help: ## Show this help
	@echo "Usage: make TARGET   (make test runs everything CI runs)"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  %-16s %s\n", $$1, $$2 }'
	@echo "Test environments: $(TEST_VENVS)"

# Both run their steps as timed stages (.ci/stages): every stage runs even after one failed, each
# prints its duration, and a table of them comes last.
test: ## Everything: lint, sanity, unit, integration, robustness (with a brief fuzz run) and molecule tests
	@MAKE="$(MAKE)" .ci/stages test venv deps lint sanity unit integration robustness molecule
	@echo "== make test: all passed ($(TEST_VENVS))"
	@$(if $(PYTHON_2_21),true,echo "$(NO_2_21)")

check: ## The quick inner loop: lint and unit tests (no root, no services, no Debian packages)
	@MAKE="$(MAKE)" .ci/stages check venv lint unit
	@echo "== make check: all passed ($(TEST_VENVS))"
	@$(if $(PYTHON_2_21),true,echo "$(NO_2_21)")

# --- Setup -------------------------------------------------------------------

venv: $(VENV)/.requirements-stamp $(if $(PYTHON_2_21),$(VENV_2_21)/.requirements-stamp) ## Create .venv (2.19) and .venv-2.21 from requirements/
	@$(if $(PYTHON_2_21),true,echo "$(NO_2_21)")

# pip runs again only when the requirements file is newer than the stamp.
$(VENV)/.requirements-stamp: $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "ERROR: $(PYTHON) is older than Python 3.11; run make PYTHON=python3.11" >&2; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check --quiet -r $<
	@touch $@

$(VENV_2_21)/.requirements-stamp: $(REQUIREMENTS_2_21)
	test -x $(VENV_2_21)/bin/python || $(PYTHON_2_21) -m venv $(VENV_2_21)
	$(VENV_2_21)/bin/python -m pip install --disable-pip-version-check --quiet -r $<
	@touch $@

deps: ## Install missing Debian packages (knot, nginx, ...) without starting their services
	@.ci/install-debs $(DEB_PACKAGES)

collection-path: ## Link the repository as .build/collections/ansible_collections/matrixops/delegation
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn ../../../.. $(COLLECTION_LINK)

# --- Checks --------------------------------------------------------------------

# Every linter runs, even after one fails; the target fails if any did.
# mypy reads mypy.ini: it checks plugins/ as ansible_collections.matrixops.delegation.plugins.
LINTERS := "ruff check ." "ruff format --check ." "yamllint --strict ." "ansible-lint" \
	"antsibull-changelog lint" "antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml" "mypy"

# ansible-lint finds the collection (its modules, roles and playbooks named
# matrixops.delegation.*) through .build/collections only: never through ~/.ansible or anything
# else outside the checkout.
lint: venv collection-path ## ruff (check + format), yamllint, ansible-lint, antsibull-changelog lint, mypy
	@rc=0; for linter in $(LINTERS); do \
		echo "== $$linter"; \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(COLLECTION_ENV) $$linter || { rc=1; echo "== FAILED: $$linter"; }; \
	done; exit $$rc

format: venv ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

sanity: venv ## ansible-test sanity in each test environment (see .ci/sanity)
	@rc=0; for venv in $(TEST_VENVS); do \
		.ci/sanity $$venv $(SANITY_ARGS) || { rc=1; echo "== FAILED: sanity in $$venv"; }; \
	done; exit $$rc

# pytest exits non-zero when it collects no test (5) or a path is missing (4).
# In .venv the run also measures module_utils' coverage and fails under COVERAGE_MIN percent
# (`make unit COVERAGE_ARGS=` skips that).
COVERAGE_MIN ?= 90
COVERAGE_ARGS ?= --cov=ansible_collections.matrixops.delegation.plugins.module_utils \
	--cov-report=term-missing:skip-covered --cov-fail-under=$(COVERAGE_MIN)
unit: venv collection-path ## pytest tests/unit in each test environment (module_utils coverage in .venv)
	@rc=0; for venv in $(TEST_VENVS); do \
		echo "== unit tests: $$venv (ansible-core $$($(call CORE_VERSION,$$venv)))"; \
		cov=; [ "$$venv" != "$(VENV)" ] || cov="$(COVERAGE_ARGS)"; \
		$(COLLECTION_ENV) $$venv/bin/python -m pytest -rfEs $$cov $(PYTEST_ARGS) tests/unit \
			|| { rc=1; echo "== FAILED: unit tests in $$venv"; }; \
	done; exit $$rc

# The venv's bin comes first on PATH, so the tests run that venv's ansible-playbook.
integration: venv deps collection-path ## pytest tests/integration (real ansible-playbook, knot, TLS) in each test environment
	@rc=0; for venv in $(TEST_VENVS); do \
		echo "== integration tests: $$venv (ansible-core $$($(call CORE_VERSION,$$venv)))"; \
		PATH="$(CURDIR)/$$venv/bin:$$PATH" $(COLLECTION_ENV) \
			$$venv/bin/python -m pytest -rfEs $(PYTEST_ARGS) tests/integration \
			|| { rc=1; echo "== FAILED: integration tests in $$venv"; }; \
	done; exit $$rc

# Every scenario directory under molecule/ (default driver: localhost, the lab), with .venv's
# ansible-core 2.19. Each scenario's prepare step starts the lab itself.
MOLECULE_SCENARIOS = $(notdir $(patsubst %/,%,$(dir $(wildcard molecule/*/molecule.yml))))

molecule: venv deps collection-path ## molecule test -s NAME for every scenario under molecule/
	@rc=0; for scenario in $(MOLECULE_SCENARIOS); do \
		echo "== molecule test -s $$scenario"; \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) \
			molecule test -s $$scenario || { rc=1; echo "== FAILED: molecule scenario $$scenario"; }; \
	done; exit $$rc

# Hostile peers, broken DNS and the total deadline (docs/robustness.md), plus a brief run of the
# fuzz targets (hypothesis profile "brief"). `make fuzz` runs the fuzz targets for long.
robustness: venv collection-path ## pytest tests/robustness (hostile peers, deadlines, brief fuzz) in each test environment
	@rc=0; for venv in $(TEST_VENVS); do \
		echo "== robustness tests: $$venv (ansible-core $$($(call CORE_VERSION,$$venv)))"; \
		PATH="$(CURDIR)/$$venv/bin:$$PATH" $(COLLECTION_ENV) MATRIXOPS_FUZZ=brief \
			$$venv/bin/python -m pytest -rfEs $(PYTEST_ARGS) tests/robustness \
			|| { rc=1; echo "== FAILED: robustness tests in $$venv"; }; \
	done; exit $$rc

FUZZ_EXAMPLES ?= 20000
fuzz: venv collection-path ## The fuzz targets for long: FUZZ_EXAMPLES examples each (default 20000)
	$(COLLECTION_ENV) MATRIXOPS_FUZZ=fuzz MATRIXOPS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(VENV)/bin/python -m pytest -rfEs $(PYTEST_ARGS) tests/robustness/test_fuzz_*.py

# --- Lab and demo --------------------------------------------------------------

lab-up: venv deps ## Start the lab (lab CA, knot DNS for example.test. on 127.0.0.1:5353)
	$(VENV)/bin/python tests/lab/lab.py up

lab-down: venv ## Stop the lab
	$(VENV)/bin/python tests/lab/lab.py down

# `make demo`: the lab (tests/lab/demo/lab.yml: knot DNS, lab CA, Synapse from PyPI), then the
# deploy and verify playbooks as a user runs them, with the lab inventory (localhost plays both
# example.test on 127.0.0.2 and matrix.example.test on 127.0.0.3). `make demo-clean` undoes it.
# `make demo ACME=1`: the same with certificates from the lab's pebble ACME server (the
# certificates role, matrix_acme: true) instead of the lab CA's.
DEMO_INVENTORY := tests/lab/demo/inventory.yml
DEMO_ACME := $(if $(filter 1 yes true,$(ACME)),-e matrix_acme=true)
DEMO_PLAYBOOK = @PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(COLLECTION_ENV) MATRIXOPS_LAB_DIR=$(CURDIR)/.lab \
	ansible-playbook -i $(DEMO_INVENTORY) $(DEMO_ACME)

.PHONY: demo-clean
demo: venv deps collection-path ## The collection end to end: lab, deploy example.test -> matrix.example.test:443, verify (ACME=1: certificates by ACME from the lab's pebble)
	@echo "== The lab: knot DNS, lab CA, Synapse on 127.0.0.1:8008 (tests/lab/demo/lab.yml)"
	$(DEMO_PLAYBOOK) tests/lab/demo/lab.yml
	@echo "== ansible-playbook -i $(DEMO_INVENTORY) matrixops.delegation.deploy"
	$(DEMO_PLAYBOOK) matrixops.delegation.deploy
	@echo "== ansible-playbook -i $(DEMO_INVENTORY) matrixops.delegation.verify"
	$(DEMO_PLAYBOOK) matrixops.delegation.verify
	@echo "== make demo: example.test federates through matrix.example.test:443; undo with make demo-clean"

demo-clean: venv collection-path ## Stop what make demo started (Synapse, knot) and remove what it wrote
	$(DEMO_PLAYBOOK) tests/lab/demo/clean.yml

# --- Benchmark -------------------------------------------------------------------

# A loopback world with a 50 ms delay per DNS answer and HTTP response, N server names,
# real ansible-playbook runs (docs/performance.md). Long: about 10 minutes with the defaults.
# `make bench BENCH_ARGS='--runs 5'`, `BENCH_ARGS='--baseline-names 200'` (extrapolated, labelled).
BENCH_ARGS ?=
# bench.py is a script, not a pytest run: it gets the import path pytest.ini gives the tests
# (tests/support, tests/lab) from here.
TEST_SUPPORT_PATH := $(CURDIR)/tests:$(CURDIR)/tests/lab
.PHONY: bench
bench: venv collection-path ## Benchmark the lookup and federation_check on N delayed names; prints the table
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) \
		PYTHONPATH=$(COLLECTIONS):$(TEST_SUPPORT_PATH) $(VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)

# --- Packaging and cleanup -------------------------------------------------------

build: venv ## Build the collection tarball into .build/dist/
	$(VENV)/bin/ansible-galaxy collection build --force --output-path .build/dist

clean: ## Remove build output, test output and caches (keeps the venvs)
	rm -rf .build tests/output .pytest_cache .hypothesis .ruff_cache
	find . -name __pycache__ -type d -not -path './.venv*' -prune -exec rm -rf {} +

distclean: clean ## Also remove the virtual environments
	rm -rf $(VENV) $(VENV_2_21)
