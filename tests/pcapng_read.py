"""An independent pcapng reader for the tests of the annotated copy: dpkt's pcapng block classes, block by block,
checked against dpkt's own Reader (the writer under test is plugins/module_utils/_pcapng_annotate.py)."""

import struct

import dpkt


def read_back(path):
    """(section comments, interfaces, packets) of a pcapng, parsed block by block with dpkt's pcapng block classes:
    interfaces as (linktype, snaplen, if_tsresol or None), packets as (interface, ticks, bytes, original length,
    [comments])."""
    with open(path, "rb") as handle:
        data = handle.read()
    sections, interfaces, packets, pos = [], [], [], 0
    while pos < len(data):
        block_type, length = struct.unpack_from("<II", data, pos)
        buf = data[pos:pos + length]
        pos += length
        if block_type == dpkt.pcapng.PCAPNG_BT_SHB:
            shb = dpkt.pcapng.SectionHeaderBlockLE(buf)
            sections.append([opt.text for opt in shb.opts if opt.code == dpkt.pcapng.PCAPNG_OPT_COMMENT])
        elif block_type == dpkt.pcapng.PCAPNG_BT_IDB:
            idb = dpkt.pcapng.InterfaceDescriptionBlockLE(buf)
            tsresol = [opt.data[0] for opt in idb.opts if opt.code == dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL]
            interfaces.append((idb.linktype, idb.snaplen, tsresol[0] if tsresol else None))
        elif block_type == dpkt.pcapng.PCAPNG_BT_EPB:
            epb = dpkt.pcapng.EnhancedPacketBlockLE(buf)
            comments = [opt.text for opt in epb.opts if opt.code == dpkt.pcapng.PCAPNG_OPT_COMMENT]
            packets.append((epb.iface_id, (epb.ts_high << 32) | epb.ts_low, bytes(epb.pkt_data), epb.pkt_len, comments))
        else:
            raise AssertionError("unexpected block type %#x" % block_type)
    # dpkt's own reader agrees on the packets
    with open(path, "rb") as handle:
        assert [bytes(buf) for _ts, buf in dpkt.pcapng.Reader(handle)] == [packet[2] for packet in packets]
    return sections, interfaces, packets
