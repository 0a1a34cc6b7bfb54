# The two commands of the README: `make demo` and `make test`. Everything installs from PyPI into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTION_LINK := .build/collections/ansible_collections/stamus/scs
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build/collections
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test pytest sanity lint build emulator bench clean

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

## Unit, emulator and integration tests, then ansible-test sanity and ansible-lint.
test: pytest sanity lint

pytest: setup
	$(BIN)/pytest

sanity: setup
	bash tools/sanity.sh

lint: setup
	$(BIN)/ansible-lint --profile production

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
