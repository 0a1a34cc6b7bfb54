"""Integration fixtures: a real SCS emulator (gunicorn, HTTPS on 127.0.0.1) shared by the session."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `import runner` under --import-mode=importlib

from runner import TOKEN_MARKER, Emulator  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def scs():
    """HTTPS emulator: 3 probes, 2 templates, 250 alerts over 120 flows."""
    with Emulator(tls=True, seed=7, probes=3, templates=2, alerts=250, flows=120, token=TOKEN_MARKER) as emulator:
        yield emulator


@pytest.fixture
def clean_scs(scs):
    scs.clear_faults()
    scs.clear_requests()
    yield scs
    scs.clear_faults()
