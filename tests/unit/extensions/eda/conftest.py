"""Unit tests of the stamus.scs.alerts event source: its fake alerts_tail is importable as ``fake_alerts``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `import fake_alerts` under --import-mode=importlib
