"""Make the collection importable as ansible_collections.stamus.scs for every test run by pytest, and the fixtures
shared by integration and reliability tests."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # collection_path, under --import-mode=importlib

from collection_path import collections_dir  # noqa: E402  pylint: disable=wrong-import-position


def pytest_configure(config):  # pylint: disable=unused-argument
    """Before any test module is imported; the link lives outside the checkout (see collection_path)."""
    root = collections_dir()
    if root not in sys.path:
        sys.path.insert(0, root)


@pytest.fixture
def emu(site):
    """The test module's emulator (its own ``site`` fixture) with no fault injected nor file corrupted, before and
    after the test."""
    site.reset_faults()
    yield site
    site.reset_faults()
