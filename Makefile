# The two commands of the README: `make demo` and `make test`. Everything installs from PyPI into .venv (and the
# second ansible-core's venv under .build/). `make check` is the quick loop; see README "Set-up".
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PATH := $(BIN):$(PATH)
# The directory where this checkout is the collection stamus.scs (made outside the checkout, see tests/collection_path.py).
COLLECTIONS = $$($(BIN)/python tests/collection_path.py)

# The second ansible-core of `make test` (sanity and unit tests): the newest (requirements/core-next.txt) on the
# newest Python 3.12+ found, else the oldest meta/runtime.yml allows (requirements/core-minimum.txt) on $(PYTHON).
NEXT_PYTHON = $(shell bash tools/newest_python.sh)
ALT_CORE = $(if $(NEXT_PYTHON),next,minimum)
ALT_VENV = .build/core-$(ALT_CORE)

.PHONY: setup setup-alt demo test test-parts check pytest sanity sanity-alt units-alt lint ee changelog docs \
	release-notes build emulator bench clean distclean

## .venv for $(PYTHON) (3.11 or newer), rebuilt when the interpreter or requirements/ change.
setup:
	@bash tools/venv.sh $(VENV) $(PYTHON) requirements/test.txt

setup-alt:
	@bash tools/venv.sh $(ALT_VENV) $(if $(NEXT_PYTHON),$(NEXT_PYTHON),$(PYTHON)) requirements/core-$(ALT_CORE).txt

## Run the main job: against $SCS_URL/$SCS_TOKEN when set, else against the bundled emulator over TLS.
demo: setup
	$(BIN)/python tools/demo.py

## Everything, two jobs at a time (the whole pytest run beside the other checks), each target's output in one block:
## unit, emulator, integration and EDA tests, ansible-test sanity and unit tests on a second ansible-core,
## ansible-lint, the execution environments, the changelog.
test: setup setup-alt
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-parts

test-parts: pytest sanity sanity-alt units-alt lint ee changelog

## The edit loop (under 2 minutes on an idle 2-core machine): the unit tests and two quick integration files over HTTPS.
CHECK_TESTS := tests/unit tests/integration/test_alert_info.py tests/integration/test_setup_tools.py
check: setup
	$(BIN)/pytest -q -p no:cacheprovider -n auto $(CHECK_TESTS)

pytest: setup
	$(BIN)/pytest

sanity: setup
	SANITY_ROOT=$(CURDIR)/.build/sanity bash tools/sanity.sh

sanity-alt: setup-alt
	ANSIBLE_TEST=$(CURDIR)/$(ALT_VENV)/bin/ansible-test SANITY_ROOT=$(CURDIR)/.build/sanity-$(ALT_CORE) bash tools/sanity.sh

units-alt: setup-alt
	$(ALT_VENV)/bin/pytest -q -p no:cacheprovider tests/unit

lint: setup
	ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) $(BIN)/ansible-lint --profile production

## ansible-builder create on meta/execution-environment.yml, and on the AWX execution and EDA decision environments
## of extensions/awx/. The collection's dependency paths are relative to its root (where ansible-builder reads
## them when an environment installs the collection), so that definition runs from a copy beside its files.
EE_DEFINITIONS := .build/ee/collection/execution-environment.yml extensions/awx/execution-environment.yml \
	extensions/awx/decision-environment.yml
ee: setup
	rm -rf .build/ee && mkdir -p .build/ee/collection
	cp meta/execution-environment.yml requirements.txt bindep.txt .build/ee/collection/
	for definition in $(EE_DEFINITIONS); do \
		$(BIN)/ansible-builder create --file $$definition --output-filename Containerfile \
			--context .build/ee/context-$$(basename $$(dirname $$definition))-$$(basename $$definition .yml) || exit 1; \
	done

## The changelog fragments are valid and CHANGELOG.md is what antsibull-changelog generates from changelogs/.
changelog: setup
	$(BIN)/antsibull-changelog lint
	mkdir -p .build
	$(BIN)/antsibull-changelog generate --output .build/CHANGELOG.md
	diff -u CHANGELOG.md .build/CHANGELOG.md || { echo "CHANGELOG.md is stale: run antsibull-changelog generate"; exit 1; }

## docs/reliability.md from the last green run of the whole test suite (tests write .build/reliability.md only).
docs:
	@test -f .build/reliability.md || { echo "No .build/reliability.md: run make test (or make pytest) until green first"; exit 1; }
	cp .build/reliability.md docs/reliability.md

## A release: the fragments move into changelogs/changelog.yaml and CHANGELOG.md is regenerated, for example
## `make release-notes VERSION=1.1.0` (after setting that version in galaxy.yml). ansible-doc lists new plugins from
## the collection's ansible_collections path.
release-notes: setup
	@test -n "$(VERSION)" || { echo "Set VERSION, for example make release-notes VERSION=1.1.0"; exit 1; }
	cd $(COLLECTIONS)/ansible_collections/stamus/scs && ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) \
		$(BIN)/antsibull-changelog release --version $(VERSION)

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist

## Benchmarks against the emulator on this machine (not part of test); writes docs/benchmarks.md.
bench: setup
	$(BIN)/python tools/bench/run.py

## Start the SCS emulator in the foreground: first `export SCS_URL=... SCS_TOKEN=... SCS_CA_PATH=...` lines on
## stdout, ready to eval; its log on stderr.
emulator: setup
	@PYTHON=$(BIN)/python bash tools/emulator.sh

clean:
	rm -rf .build tests/output .pytest_cache

## clean, and the venv: the next make rebuilds it.
distclean: clean
	rm -rf $(VENV)
