"""Fixtures for the emulator's own tests: real emulators started as subprocesses."""
# pylint: disable=redefined-outer-name

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scs_emulator.testing import Emulator  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def emu():
    """The default emulator (TLS, seed 1, 3 probes, mixed pcap), shared by read-mostly tests."""
    with Emulator(tls=True) as emulator:
        yield emulator


@pytest.fixture()
def clean_emu(emu):
    """The shared emulator with no fault left behind."""
    emu.clear_faults()
    emu.clear_probe_faults()
    yield emu
    emu.clear_faults()
    emu.clear_probe_faults()


@pytest.fixture()
def fresh_emu():
    """A private emulator for tests that change probes or the store (plain HTTP, quick tasks)."""
    with Emulator(tls=False, extra_args=["--task-delay", "0.3"]) as emulator:
        yield emulator
