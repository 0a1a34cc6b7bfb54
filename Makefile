# The two commands of the README: `make demo` and `make test`. Everything installs from PyPI into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTION_LINK := .build/collections/ansible_collections/stamus/scs
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test pytest sanity lint ee changelog release-notes build emulator bench clean

$(VENV)/.installed: requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/test.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

setup: $(VENV)/.installed $(COLLECTION_LINK)

## Run the main job: against $SCS_URL/$SCS_TOKEN when set, else against the bundled emulator over TLS.
demo: setup
	$(BIN)/python tools/demo.py

## Unit, emulator, integration and EDA tests, ansible-test sanity, ansible-lint, the execution environment, the changelog.
test: pytest sanity lint ee changelog

pytest: setup
	$(BIN)/pytest

sanity: setup
	bash tools/sanity.sh

lint: setup
	$(BIN)/ansible-lint --profile production

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

## A release: the fragments move into changelogs/changelog.yaml and CHANGELOG.md is regenerated, for example
## `make release-notes VERSION=1.1.0` (after setting that version in galaxy.yml). ansible-doc lists new plugins from
## the collection's ansible_collections path.
release-notes: setup $(COLLECTION_LINK)
	@test -n "$(VERSION)" || { echo "Set VERSION, for example make release-notes VERSION=1.1.0"; exit 1; }
	cd $(COLLECTION_LINK) && $(BIN)/antsibull-changelog release --version $(VERSION)

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist

## Benchmarks against the emulator on this machine (not part of test); writes docs/benchmarks.md.
bench: setup
	$(BIN)/python tools/bench/run.py

## Start the SCS emulator in the foreground (prints URL, token and CA path).
emulator: setup
	PYTHONPATH=tests/emulator $(BIN)/python -m scs_emulator serve --tls

clean:
	rm -rf .build tests/output
