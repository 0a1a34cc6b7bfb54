"""Make the collection importable as ansible_collections.stamus.scs for every test run by pytest."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # collection_path, under --import-mode=importlib

from collection_path import collections_dir  # noqa: E402  pylint: disable=wrong-import-position


def pytest_configure(config):  # pylint: disable=unused-argument
    """Before any test module is imported; the link lives outside the checkout (see collection_path)."""
    root = collections_dir()
    if root not in sys.path:
        sys.path.insert(0, root)
