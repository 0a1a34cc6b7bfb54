"""The stamus.scs.probes inventory plugin as users run it: ansible-inventory and ansible-playbook against the emulator
over HTTPS, checked against the emulator's own REST data and state."""

import json
import os
import re
import subprocess

import pytest
import yaml

from runner import BIN, TOKEN_MARKER, ansible_env

pytestmark = pytest.mark.integration

SITE_GROUPS = {"prefix": "site", "key": "scs_descr | regex_replace('^.* - ', '')"}
# Unparsed inventory is only a warning by default: fail instead, so a broken plugin cannot pass as an empty inventory.
STRICT = {"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true"}


def write_inventory(tmp_path, name="site.scs.yml", **options):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(dict({"plugin": "stamus.scs.probes"}, **options), sort_keys=False))
    return path


def ansible(tool, *args, env=None):
    proc = subprocess.run([os.path.join(BIN, tool)] + [str(arg) for arg in args], env=ansible_env(dict(STRICT, **(env or {}))),
                          capture_output=True, text=True, timeout=120, check=False)
    assert TOKEN_MARKER not in proc.stdout + proc.stderr
    return proc


def inventory_list(path, *args, env=None):
    proc = ansible("ansible-inventory", "-i", path, "--list", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return unwrap(json.loads(proc.stdout))


def unwrap(value):
    """Strings from an inventory plugin are untrusted; ansible-inventory marks them {"__ansible_unsafe": text}."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def fleet(emulator):
    """What SCS says, through the REST API (address, descr) and the emulator's state (template, effective pcap)."""
    response = emulator.rest("GET", "/rest/appliances/probe/", params={"page_size": 1000})
    response.raise_for_status()
    rest = {probe["name"]: probe for probe in response.json()["results"]}
    state = {probe["name"]: probe for probe in emulator.state()["probes"]}
    assert set(rest) == set(state) and rest
    return {name: dict(rest[name], template_name=state[name]["template_name"], effective_pcap=state[name]["effective_pcap"])
            for name in rest}


def hosts_of(listing, group):
    """Hosts of a group and of its children, from ansible-inventory --list."""
    entry = listing.get(group, {})
    return set(entry.get("hosts", [])).union(*[hosts_of(listing, child) for child in entry.get("children", [])])


def site_of(probe):
    return re.sub(r"[^A-Za-z0-9_]", "_", probe["descr"].split(" - ")[-1])


def test_probes_become_hosts_grouped_by_template_and_pcap_state(tmp_path, clean_scs):
    expected = fleet(clean_scs)
    clean_scs.clear_requests()
    path = write_inventory(tmp_path, keyed_groups=[SITE_GROUPS], compose={"probe_api": "'https://' ~ ansible_host ~ ':8443'"},
                           groups={"perimeter_capture": "scs_template == 'perimeter' and scs_conditional_pcap_effective"})
    listing = inventory_list(path, env=clean_scs.env())
    hostvars = listing["_meta"]["hostvars"]

    assert set(hostvars) == set(expected) == hosts_of(listing, "scs_probes")
    for name, probe in expected.items():
        assert hostvars[name]["ansible_host"] == probe["address"] == hostvars[name]["scs_address"]
        assert hostvars[name]["scs_appliance_id"] == probe["appliance_id"]
        assert hostvars[name]["scs_template"] == probe["template_name"]
        assert hostvars[name]["scs_conditional_pcap"] == probe["conditional_pcap"]
        assert hostvars[name]["scs_conditional_pcap_effective"] is probe["effective_pcap"]
        assert hostvars[name]["probe_api"] == "https://%s:8443" % probe["address"]
        assert name in hosts_of(listing, "site_" + site_of(probe))
    capturing = {name for name, probe in expected.items() if probe["effective_pcap"]}
    assert hosts_of(listing, "scs_conditional_pcap_on") == capturing and capturing
    assert hosts_of(listing, "scs_conditional_pcap_off") == set(expected) - capturing
    for template in {probe["template_name"] for probe in expected.values() if probe["template_name"]}:
        assert hosts_of(listing, "scs_template_" + template) == {n for n, p in expected.items() if p["template_name"] == template}
    assert hosts_of(listing, "perimeter_capture") == {n for n in capturing if expected[n]["template_name"] == "perimeter"}
    # two list calls and one OPTIONS per kind, whatever the size of the fleet
    assert sorted((entry["method"], re.sub(r"/\d+/$", "/<id>/", entry["path"])) for entry in clean_scs.requests()) == [
        ("GET", "/rest/appliances/probe/"), ("GET", "/rest/appliances/template/"),
        ("OPTIONS", "/rest/appliances/probe/<id>/"), ("OPTIONS", "/rest/appliances/template/<id>/")]

    graph = ansible("ansible-inventory", "-i", path, "--graph", "scs_conditional_pcap_on", env=clean_scs.env())
    assert graph.returncode == 0, graph.stderr
    assert graph.stdout.splitlines()[0] == "@scs_conditional_pcap_on:"
    assert {line.strip(" |-") for line in graph.stdout.splitlines()[1:]} == capturing


def test_connection_options_in_the_inventory_file(tmp_path, clean_scs):
    expected = fleet(clean_scs)
    path = write_inventory(tmp_path, name="scs.yml", scs_url=clean_scs.url, scs_token=clean_scs.token,
                           ca_path=clean_scs.ca_path, pattern="probe-0[12]")
    listing = inventory_list(path)  # no SCS_* variable in the environment
    assert set(listing["_meta"]["hostvars"]) == {name for name in expected if name in ("probe-01", "probe-02")}

    templated = write_inventory(tmp_path, name="lab.scs.yaml", scs_url=clean_scs.url, ca_path=clean_scs.ca_path,
                                scs_token="{{ lookup('ansible.builtin.env', 'LAB_SCS_TOKEN') }}")
    listing = inventory_list(templated, env={"LAB_SCS_TOKEN": clean_scs.token})
    assert set(listing["_meta"]["hostvars"]) == set(expected)


def test_a_cached_inventory_sends_no_request(tmp_path, clean_scs):
    cache_dir = tmp_path / "cache"
    path = write_inventory(tmp_path, cache=True, cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache_dir))
    first = inventory_list(path, env=clean_scs.env())
    assert clean_scs.requests()
    clean_scs.clear_requests()

    again = inventory_list(path, env=clean_scs.env())
    assert clean_scs.requests() == [] and again == first
    cached = "".join(entry.read_text() for entry in cache_dir.iterdir())
    assert "scs_probes" not in cached and set(fleet(clean_scs)) <= set(re.findall(r"probe-\d+", cached))
    assert TOKEN_MARKER not in cached

    clean_scs.clear_requests()
    assert inventory_list(path, "--flush-cache", env=clean_scs.env()) == first
    assert clean_scs.requests()


def test_a_refused_token_fails_with_the_fix_and_without_the_token(tmp_path, clean_scs):
    path = write_inventory(tmp_path)
    wrong = "wrong-" + TOKEN_MARKER
    proc = ansible("ansible-inventory", "-i", path, "--list", "-vvv", env=dict(clean_scs.env(), SCS_TOKEN=wrong))
    assert proc.returncode != 0
    assert "stamus.scs.probes could not read the probes from SCS: GET /rest/appliances/template/: HTTP 403 (Invalid token.)" \
        in proc.stderr and "check scs_token (or SCS_TOKEN)" in proc.stderr


def test_a_playbook_targets_the_probes_that_capture(tmp_path, clean_scs):
    expected = fleet(clean_scs)
    path = write_inventory(tmp_path)
    playbook = tmp_path / "capturing.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Probes with conditional pcap on", "hosts": "scs_conditional_pcap_on", "connection": "local",
        "gather_facts": False,
        "tasks": [{"name": "Show the address", "ansible.builtin.debug": {"msg": "TARGET {{ inventory_hostname }} {{ ansible_host }}"}}],
    }], sort_keys=False))
    proc = ansible("ansible-playbook", "-i", path, playbook, env=clean_scs.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    targets = dict(re.findall(r'"msg": "TARGET (\S+) (\S+)"', proc.stdout))
    assert targets == {name: probe["address"] for name, probe in expected.items() if probe["effective_pcap"]} and targets
