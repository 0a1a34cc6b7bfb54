"""The run's spool: alerts on disk, chained per flow, read back per flow while more are appended."""

import os

from ansible_collections.stamus.scs.plugins.module_utils._spool import AlertSpool, Chain


def test_alerts_are_read_back_per_chain_in_order(tmp_path):
    first, second = Chain(), Chain()
    with AlertSpool(str(tmp_path)) as spool:
        for index in range(6):
            spool.append(first if index % 3 else second, {"_id": "a%d" % index, "text": "é\n%d" % index})
        snapshot = spool.entries(first)
        spool.append(first, {"_id": "late"})
        assert [alert["_id"] for alert in spool.read(snapshot)] == ["a1", "a2", "a4", "a5"]
        assert [alert["_id"] for alert in spool.read(spool.entries(first, skip=4))] == ["late"]
        assert list(spool.read(spool.entries(second))) == [{"_id": "a0", "text": "é\n0"}, {"_id": "a3", "text": "é\n3"}]
        assert (first.count, second.count) == (5, 2) and spool.entries(Chain()) == []
        assert os.listdir(tmp_path) == []  # unnamed: nothing to leave behind
