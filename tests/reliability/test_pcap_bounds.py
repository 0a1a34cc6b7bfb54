"""Bounded reading of what SCS sends: a pcapng whose Section Header Block declares 512 MiB (options nobody needs) is
verified by pcap_download, run as its own process, in the memory of a small one. Every pcapng block but the packets is
read up to 1 MiB (BLOCK_READ_LIMIT), the Section Header Block included."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # inputkit, under --import-mode=importlib

from inputkit import files_under, run_module_direct  # noqa: E402
from runner import TOKEN_MARKER, Emulator  # noqa: E402

pytestmark = pytest.mark.integration

CATEGORY = "Bounded inputs"
MIB = 1024 * 1024
HUGE_SHB = 512 * MIB
# Generous: the module process itself takes about 40-60 MiB; reading the block whole took 550 MiB and more.
RSS_LIMIT_MIB = 150
RSS_GROWTH_MIB = 32


@pytest.fixture(scope="module")
def emu():
    with Emulator(tls=True, seed=101, probes=1, templates=1, alerts=5, flows=3, pcap="none", token=TOKEN_MARKER) as emulator:
        yield emulator


def download(emu, tmp_path, name, shb_size):
    emu.stage_pcap(name, 0, shb_size=shb_size)
    dest = tmp_path / name
    dest.mkdir()
    args = {"scs_url": emu.url, "scs_token": emu.token, "ca_path": emu.ca_path, "filename": name, "dest": str(dest)}
    result, rss, seconds = run_module_direct("pcap_download", args, tmp_path)
    try:
        assert result["_rc"] == 0 and not result.get("failed"), (result.get("msg"), result["_stderr"][-2000:])
        assert files_under(dest) == ["%s.pcap" % name]
        assert result["pcap"]["format"] == "pcapng" and result["pcap"]["packets"] == 3
        assert result["size"] > shb_size and TOKEN_MARKER not in str(result)
    finally:
        for path in dest.iterdir():
            path.unlink()
    return result, rss, seconds


def test_a_512_mib_section_header_block_is_verified_in_bounded_memory(emu, tmp_path, ledger):
    _small, small_rss, _seconds = download(emu, tmp_path, "smallShb", 1024)
    huge, huge_rss, seconds = download(emu, tmp_path, "hugeShb", HUGE_SHB)
    assert huge_rss < RSS_LIMIT_MIB, "peak RSS %.0f MiB for a 512 MiB Section Header Block" % huge_rss
    assert huge_rss - small_rss < RSS_GROWTH_MIB, (huge_rss, small_rss)
    ledger.checked("no partial file")
    ledger.checked("no token leak")
    ledger.record(CATEGORY, "pcapng whose Section Header Block is 512 MiB", "pcap_download", "survived",
                  "verified (pcapng, 3 packets, %d bytes) with a peak RSS of %.0f MiB (%.0f MiB for a 1 KiB block; "
                  "limit %d), %.1f s" % (huge["size"], huge_rss, small_rss, RSS_LIMIT_MIB, seconds))
