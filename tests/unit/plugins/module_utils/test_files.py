import os

import pytest

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError
from ansible_collections.stamus.scs.plugins.module_utils._files import (
    atomic_write_chunks,
    check_within,
    directory_lock,
    directory_mode,
    file_mode,
    has_sha256,
    os_error_text,
    prepare_directory,
    refuse_symlink,
    sha256_file,
)


def test_interrupted_iterator_leaves_the_old_file(tmp_path):
    dest = tmp_path / "f.pcap"
    dest.write_bytes(b"old")

    def chunks():
        yield b"new"
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write_chunks(str(dest), chunks())
    assert dest.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.pcap"]


def test_a_failed_write_names_the_file_it_was_writing(tmp_path):
    dest = tmp_path / "7.json"

    def chunks():
        yield b"{"
        raise OSError(28, "No space left on device")  # as os.write raises it: no file name
    with pytest.raises(OSError) as raised:
        atomic_write_chunks(str(dest), chunks())
    assert os_error_text(raised.value) == "No space left on device (%s)" % dest and os.listdir(tmp_path) == []
    assert os_error_text(OSError(13, "Permission denied")) == "Permission denied"


def test_has_sha256_takes_only_a_regular_file_with_that_hash(tmp_path):
    kept = tmp_path / "kept"
    kept.write_bytes(b"bytes")
    digest = sha256_file(str(kept))
    link = tmp_path / "link"
    link.symlink_to(kept)
    assert has_sha256(str(kept), digest) and not has_sha256(str(kept), "0" * 64)
    assert not has_sha256(str(link), digest) and not has_sha256(str(tmp_path / "missing"), digest)
    assert not has_sha256(str(tmp_path), digest)


def test_written_file_has_mode_and_hash(tmp_path):
    dest = tmp_path / "f.bin"
    size, digest = atomic_write_chunks(str(dest), [b"a" * 10, b"", b"b"], mode=0o600)
    assert size == 11 and digest == sha256_file(str(dest)) and oct(dest.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("value, mode", [
    ("0640", 0o640), ("640", 0o640), ("0600", 0o600), ("1750", 0o1750), (None, 0o640),
    (0o600, 0o600),  # YAML reads an unquoted 0600 as octal: the integer is the mode itself
    ("u=rw,g=r,o=", 0o640), ("u=rw,g=,o=", 0o600), ("g+w", 0o660), ("o=g", 0o644),  # applied to 0640
])
def test_file_mode(value, mode):
    assert file_mode(value) == mode


@pytest.mark.parametrize("value", ["0999", "64", "rw-r-----", "", "06\n40", "u=rw\n", "u=rw,g=r\n", "banana",
                                   "u=rw\nbanana", 0o10000, -1, True])
def test_bad_mode_names_the_formats(value):
    """A `$` pattern accepts a trailing line break: the whole value must be a mode."""
    with pytest.raises(ScsConfigError, match="mode must be octal such as '0640' .* or symbolic such as 'u=rw,g=r,o='"):
        file_mode(value)


def test_directory_mode_adds_search_where_read_is_granted():
    assert directory_mode(0o640) == 0o750 and directory_mode(0o600) == 0o700 and directory_mode(0o644) == 0o755


def test_prepare_directory(tmp_path):
    prepare_directory(str(tmp_path / "a" / "b"), 0o640)
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScsConfigError, match="not a directory"):
        prepare_directory(str(tmp_path / "file"), 0o640)


def test_disk_full_leaves_nothing(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_chunks(str(tmp_path / "f.pcap"), [b"data"])
    assert os.listdir(tmp_path) == []


def test_short_writes_are_completed(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    size, _digest = atomic_write_chunks(str(tmp_path / "f.bin"), [b"0123456789", b"abcdefg"])
    assert size == 17 and (tmp_path / "f.bin").read_bytes() == b"0123456789abcdefg"


def test_symlinks_and_roots_are_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(ScsConfigError, match="symbolic link"):
        refuse_symlink(str(tmp_path / "link"), "dest")
    with pytest.raises(ScsConfigError, match="symbolic link"):
        prepare_directory(str(tmp_path / "link"), 0o640)
    check_within(str(real / "case"), str(tmp_path))
    with pytest.raises(ScsConfigError, match="outside the allowed directory"):
        check_within(str(tmp_path / "link" / ".." / ".." / "elsewhere"), str(real))
    with pytest.raises(ScsConfigError, match="outside the allowed directory"):
        check_within(str(tmp_path.parent / (tmp_path.name + "-sibling")), str(tmp_path))


def test_directory_lock_is_exclusive_and_times_out(tmp_path):
    with directory_lock(str(tmp_path), timeout=1):
        with pytest.raises(ScsConfigError, match="Another run holds the lock"):
            with directory_lock(str(tmp_path), timeout=0.2, poll=0.05):
                pass
    with directory_lock(str(tmp_path), timeout=0.2):
        assert os.listdir(tmp_path) == []
