import pytest

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError
from ansible_collections.stamus.scs.plugins.modules.pcap_download import DEFAULT_MODE, initial_mode


@pytest.mark.parametrize("value, mode", [(None, DEFAULT_MODE), (0o600, 0o600), ("0600", 0o600), ("u=rw,g=r,o=", DEFAULT_MODE)])
def test_initial_mode(value, mode):
    assert initial_mode(value) == mode


@pytest.mark.parametrize("value", ["u=rw\n", "u=rw,g=r\n", "banana", "u=rw\nbanana"])
def test_symbolic_mode_is_matched_whole(value):
    """A `$` pattern accepts a trailing line break: the whole value must be a symbolic mode."""
    with pytest.raises(ScsConfigError, match="mode must be octal such as '0640' or symbolic"):
        initial_mode(value)
