"""Reading files of JSON documents one at a time: the three forms, line numbers in errors, the cap per document."""

import json

import pytest

from ansible_collections.stamus.scs.plugins.module_utils._json_stream import JsonDocuments, JsonStreamError

ALERTS = [{"_id": "a%d" % index, "host": "probe-01", "flow_id": index, "alert": {"signature": "x\ny"}} for index in range(5)]


def read(path, cap=1 << 20):
    documents = JsonDocuments(str(path), cap=cap)
    return list(documents), documents


@pytest.mark.parametrize("form, text", [
    ("list", json.dumps(ALERTS, indent=2)),
    ("object", json.dumps({"changed": False, "alerts": ALERTS, "count": 5})),
    ("object", json.dumps({"failed": False, "alerts": ALERTS}, indent=1)),
    ("lines", "\n".join(json.dumps(alert) for alert in ALERTS) + "\n"),
    ("lines", "\ufeff" + "  ".join(json.dumps(alert) for alert in ALERTS)),  # a BOM, documents on one line
])
def test_every_form_gives_the_same_documents(tmp_path, form, text):
    path = tmp_path / "alerts.json"
    path.write_text(text, encoding="utf-8")
    documents, reader = read(path)
    assert [document for _line, document in documents] == ALERTS and reader.form == form
    if form == "lines" and "\n" in text:
        assert [line for line, _document in documents] == [1, 2, 3, 4, 5]


def test_an_object_larger_than_the_cap_is_read_member_by_member(tmp_path):
    alerts = [dict(alert, pad="p" * 300) for alert in ALERTS * 20]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"changed": True, "alerts": alerts, "msg": "done"}, indent=2))
    documents, reader = read(path, cap=2000)
    assert [document for _line, document in documents] == alerts
    assert reader.form == "object" and reader.others == {"changed": True, "msg": "done"}


@pytest.mark.parametrize("text, message", [
    ('{"_id": "a"}\n{"_id": "b"}\n{"_id": "c",, }\n{"_id": "d"}\n', "line 3: not valid JSON"),
    ('[{"_id": "a"},\n {"_id": "b"}\n {"_id": "c"}]', "line 3: expected ',' or ']' after the document"),
    ('[{"_id": "a"}] [', "line 1: more data after the list"),
    ('{"_id": "a"}\n{"_id": "b"', "line 2: not valid JSON"),
    ('{"alerts": {"_id": "a"}}', "line 1: the alerts member must be a list"),
])
def test_malformed_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(JsonStreamError, match=message):
        read(path)


def test_a_document_over_the_cap_is_refused_with_its_line(tmp_path):
    path = tmp_path / "big.ndjson"
    path.write_text('{"_id": "a"}\n{"_id": "a"}\n{"_id": "b", "pad": "%s"}\n{"_id": "c"}\n' % ("p" * 5000))
    with pytest.raises(JsonStreamError, match="line 3: the document there is larger than 4096 characters"):
        read(path, cap=4096)
    path.write_text('{"_id": "b", "pad": "%s"}\n' % ("p" * 5000))
    with pytest.raises(JsonStreamError, match="line 1: the document there is larger than 4096 characters.*'pad'"):
        read(path, cap=4096)
    path.write_text('{"_id": "b", %s}\n' % ", ".join('"k%d": 1' % index for index in range(1000)))
    with pytest.raises(JsonStreamError, match="line 1: a JSON object larger than 4096 characters .* with no alerts list"):
        read(path, cap=4096)


def test_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[{"_id": "\xe9"}]')
    with pytest.raises(JsonStreamError, match="not UTF-8"):
        read(path)


def test_an_empty_file_has_no_document(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("\n")
    assert read(path)[0] == []
