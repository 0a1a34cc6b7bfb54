import hashlib
import json
import os
import subprocess

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.stamus.scs.plugins.modules import evidence_bundle

from ..module_utils.test_bundle import EXTRACTED_SHA, FLOW, evidence


def run(capsys, check=False, **args):
    if check:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        evidence_bundle.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def test_check_mode_computes_the_bundle_without_writing_it(tmp_path, capsys):
    manifest = evidence(tmp_path / "ev")
    out = tmp_path / "out"
    out.mkdir()
    code, checked = run(capsys, check=True, manifest=manifest, bundle=str(out))
    assert code == 0 and checked["changed"] is True and os.listdir(str(out)) == []
    assert checked["bundle"] == str(out / ("probe-01-%d.tar.gz" % FLOW)) and "Would write" in checked["msg"]

    code, written = run(capsys, manifest=manifest, bundle=str(out) + "/", mode="0644")
    bundle = out / ("probe-01-%d.tar.gz" % FLOW)
    assert code == 0 and written["changed"] is True and written["sha256"] == checked["sha256"]
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == written["sha256"] == checked["sha256"]
    assert written["size"] == bundle.stat().st_size and os.stat(str(bundle)).st_mode & 0o777 == 0o644
    assert [member["name"] for member in written["members"]][-1] == "probe-01/%d.pcap" % FLOW
    assert (written["probe"], written["flow_id"], written["alerts"]) == ("probe-01", FLOW, 5)
    assert "probe-01/%d.files/%s" % (FLOW, EXTRACTED_SHA) in {member["name"] for member in written["members"]}
    # sha256sum's own check, from the bundle's directory
    checked_by_tool = subprocess.run(["sha256sum", "-c", bundle.name + ".sha256"], cwd=str(out), capture_output=True,
                                     text=True, check=False)
    assert checked_by_tool.returncode == 0 and "OK" in checked_by_tool.stdout

    for check in (True, False):
        code, again = run(capsys, check=check, manifest=manifest, bundle=str(bundle), mode="0644")
        assert code == 0 and again["changed"] is False and again["sha256"] == written["sha256"]
        assert again["msg"].startswith("Unchanged:")
    assert sorted(os.listdir(str(out))) == [bundle.name, bundle.name + ".sha256"]


def test_a_changed_mode_or_checksum_file_is_a_change(tmp_path, capsys):
    manifest = evidence(tmp_path / "ev", full=False)
    bundle = tmp_path / "b.tar.gz"
    run(capsys, manifest=manifest, bundle=str(bundle))
    code, result = run(capsys, manifest=manifest, bundle=str(bundle), mode="0600")
    assert code == 0 and result["changed"] is True and os.stat(str(bundle)).st_mode & 0o777 == 0o600
    (tmp_path / "b.tar.gz.sha256").write_text("0" * 64 + "  b.tar.gz\n")
    code, result = run(capsys, check=True, manifest=manifest, bundle=str(bundle), mode="0600")
    assert result["changed"] is True and (tmp_path / "b.tar.gz.sha256").read_text().startswith("0" * 64)
    code, result = run(capsys, manifest=manifest, bundle=str(bundle), mode="0600")
    assert (tmp_path / "b.tar.gz.sha256").read_text() == "%s  b.tar.gz\n" % result["sha256"]


def test_refusals_name_the_problem_and_write_nothing(tmp_path, capsys):
    manifest = evidence(tmp_path / "ev", full=False)
    pcap = os.path.join(os.path.dirname(manifest), "%d.pcap" % FLOW)
    before = open(pcap, "rb").read()
    code, result = run(capsys, manifest=manifest, bundle=pcap)
    assert code == 1 and "is one of the files it bundles" in result["msg"] and open(pcap, "rb").read() == before
    code, result = run(capsys, manifest=manifest, bundle=str(tmp_path / "missing" / "b.tar.gz"))
    assert code == 1 and "does not exist: create it first" in result["msg"]
    code, result = run(capsys, manifest=manifest, bundle=str(tmp_path / "b.tar.gz"), mode="rwx")
    assert code == 1 and "mode must be octal" in result["msg"]
    with open(pcap, "ab") as handle:
        handle.write(b"appended")
    code, result = run(capsys, manifest=manifest, bundle=str(tmp_path / "b.tar.gz"))
    assert code == 1 and result["error_type"] == "ScsEvidenceError" and pcap in result["msg"]
    assert sorted(os.listdir(str(tmp_path))) == ["ev"]
