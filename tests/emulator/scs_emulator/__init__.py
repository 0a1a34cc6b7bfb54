"""SCS emulator: a stand-in for Stamus Central Server used by the tests and the demo."""

__version__ = "1.0.0"
