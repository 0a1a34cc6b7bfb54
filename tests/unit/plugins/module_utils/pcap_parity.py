"""``summarize_pcap`` for the tests, checked against the streaming verifier fed the same file in pieces of many sizes.

Every test of test_pcap_verify.py and test_decap.py that summarises a capture calls this one: each of its cases also
proves that ``PcapStream``, which checks downloads as they stream, gives the same summary, or the same error with
the same message, whatever the pieces (1 byte, odd sizes, sizes around a record, large ones). The piece buffer is
reused and scrambled after each feed, as the download ring reuses its buffers, so a verifier that kept a view of a
piece would go wrong here.
"""

import os

from ansible_collections.stamus.scs.plugins.module_utils import _pcap_verify

SMALL_FILE = 256 * 1024  # below this, even 1-byte pieces are quick
PIECE_SIZES = (1, 2, 3, 7, 15, 16, 17, 63, 1000, 4099)
LARGE_PIECE_SIZES = (65537, 1 << 20)
HUGE_FILE = 64 << 20  # above this (sparse test files), one odd size is enough


def _outcome(function):
    try:
        return ("summary", function())
    except ValueError as exc:  # PcapFormatError, or a malformed five_tuple
        return (type(exc), str(exc))


def stream_pieces(path, five_tuple, piece_size):
    """PcapStream fed ``path`` in ``piece_size`` pieces of one reused buffer, scrambled after each feed."""
    stream = _pcap_verify.PcapStream(five_tuple)
    buffer = bytearray(piece_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            size = handle.readinto(buffer)
            if not size:
                break
            stream.feed(view[:size])
            buffer[:size] = b"\xa5" * size
    return stream.finish()


def piece_sizes(file_size):
    if file_size > HUGE_FILE:
        return (65537,)
    if file_size > SMALL_FILE:
        return (1000, 4099) + LARGE_PIECE_SIZES
    return PIECE_SIZES + LARGE_PIECE_SIZES


def summarize_pcap(path, five_tuple=None):
    """``_pcap_verify.summarize_pcap(path, five_tuple)``, once every piece size has given the same outcome."""
    path = str(path)
    expected = _outcome(lambda: _pcap_verify.summarize_pcap(path, five_tuple))
    for size in piece_sizes(os.path.getsize(path)):
        streamed = _outcome(lambda size=size: stream_pieces(path, five_tuple, size))
        assert streamed == expected, "pieces of %d bytes: %r, the whole file: %r" % (size, streamed, expected)
    return _pcap_verify.summarize_pcap(path, five_tuple)
