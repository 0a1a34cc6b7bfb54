"""The stamus.scs.probes inventory plugin, loaded by ansible's plugin loader, against a fake SCS."""

import os
import sys

import pytest
import yaml
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

from ansible_collections.stamus.scs.plugins.module_utils._probes import effective_pcap
from collection_path import collections_dir  # tests/collection_path.py

TOKEN = "unit-marker-9a7d3c"
URL = "https://scs.example.net"
LABEL = "Activate pcap extraction on alerts"
COLLECTIONS = collections_dir()
TEMPLATES = [{"pk": 1, "name": "DMZ Paris", "conditional_pcap": True}, {"pk": 2, "name": "lab", "conditional_pcap": False}]
PROBES = [
    {"appliance_id": 11, "name": "probe-01", "address": "10.0.0.11", "descr": "Paris - DMZ", "template": 1,
     "conditional_pcap": None, "pending_changes": False, "last_seen": "2026-11-27T10:00:00Z", "suri_running": True},
    {"appliance_id": 12, "name": "probe-02", "address": "10.0.0.12", "descr": "Lyon - lab", "template": 2,
     "conditional_pcap": True, "pending_changes": True, "last_seen": "2026-11-27T10:00:00Z", "suri_running": False},
    {"appliance_id": 13, "name": "probe-03", "address": "", "descr": "Boston - lab", "template": 2,
     "conditional_pcap": None, "pending_changes": False, "last_seen": None, "suri_running": True},
    {"appliance_id": 14, "name": "sensor-04", "address": "10.0.0.14", "descr": "Tokyo - edge", "template": None,
     "conditional_pcap": False, "pending_changes": False, "last_seen": None, "suri_running": True},
]


class Warnings:
    def __init__(self):
        self.messages = []

    def warning(self, message, **kwargs):
        self.messages.append(message)

    def vvv(self, message, **kwargs):
        self.messages.append(message)


def page(results):
    return {"count": len(results), "next": None, "previous": None, "results": results}


def options_body():
    return {"actions": {"PUT": {"conditional_pcap": {"type": "boolean", "label": LABEL}}}}


def _collection_modules():
    return {name: module for name, module in sys.modules.items()
            if name == "ansible_collections" or name.startswith("ansible_collections.")}


@pytest.fixture(scope="module", autouse=True)
def plugin_loader():
    """The plugin loader needs ansible's collection finder, and the finder refuses packages imported before it
    (the rest of the suite imports the collection from sys.path): install it over fresh imports for this module,
    then put the earlier imports back."""
    if AnsibleCollectionConfig.collection_finder is not None:
        yield
        return
    saved = _collection_modules()
    for name in saved:
        del sys.modules[name]
    init_plugin_loader([os.path.normpath(COLLECTIONS)])
    yield
    AnsibleCollectionConfig.collection_finder._remove()  # pylint: disable=protected-access
    for name in _collection_modules():
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.fixture
def scs(fake_server, monkeypatch):
    for name in ("SCS_URL", "SCS_TOKEN", "SCS_CA_PATH", "SCS_VALIDATE_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    fake_server.add("GET", "/rest/appliances/template/", json=page(TEMPLATES))
    fake_server.add("GET", "/rest/appliances/probe/", json=page(PROBES))
    fake_server.add("OPTIONS", "/rest/appliances/probe/11/", json=options_body())
    fake_server.add("OPTIONS", "/rest/appliances/template/1/", json=options_body())
    return fake_server


def run(tmp_path, flush=False, file_name="site.scs.yml", **options):
    """Parse an inventory file holding ``options`` (with the fake SCS's URL and token unless given); ``flush`` is
    what ansible-inventory --flush-cache does."""
    config = {"plugin": "stamus.scs.probes", "scs_url": URL, "scs_token": TOKEN}
    config.update(options)
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump({key: value for key, value in config.items() if value is not None}))
    plugin = inventory_loader.get("stamus.scs.probes")
    plugin.display = Warnings()
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=not flush)
    if options.get("cache"):  # as ansible's inventory manager does after parse
        plugin.update_cache_if_changed()
    return inventory, plugin.display.messages


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


def parse_error(tmp_path, **options):
    with pytest.raises(AnsibleParserError) as info:
        run(tmp_path, **options)
    assert TOKEN not in str(info.value)
    return str(info.value)


def test_hosts_carry_the_probe_view_as_prefixed_variables(tmp_path, scs):
    inventory, warnings = run(tmp_path)
    assert sorted(inventory.hosts) == sorted(probe["name"] for probe in PROBES)
    first = inventory.get_host("probe-01").vars
    assert first["ansible_host"] == "10.0.0.11" and first["scs_address"] == "10.0.0.11"
    assert first["scs_appliance_id"] == 11 and first["scs_template"] == "DMZ Paris" and first["scs_template_id"] == 1
    assert first["scs_conditional_pcap"] is None and first["scs_conditional_pcap_effective"] is True
    assert first["scs_descr"] == "Paris - DMZ" and first["scs_suri_running"] is True and first["scs_pending_changes"] is False
    assert "scs_name" not in first and not [value for value in first.values() if TOKEN in str(value)]
    assert "ansible_host" not in inventory.get_host("probe-03").vars
    assert [message for message in warnings if "no address" in message] == [
        "1 probe(s) have no address on SCS, so no ansible_host: probe-03. Set ansible_host with the compose option if "
        "plays must reach them."]


def test_probes_without_name_or_address_are_reported_in_one_warning_each(tmp_path, fake_server):
    fleet = [{"appliance_id": i, "name": "p%02d" % i, "address": None} for i in range(1, 13)] + [{"appliance_id": 99}]
    fake_server.add("GET", "/rest/appliances/template/", json=page([]))
    fake_server.add("GET", "/rest/appliances/probe/", json=page(fleet))
    fake_server.add("OPTIONS", "/rest/appliances/probe/1/", json=options_body())
    inventory, warnings = run(tmp_path)
    assert len(inventory.hosts) == 12 and members(inventory, "scs_no_template") == sorted(inventory.hosts)
    assert warnings == ["stamus.scs.probes skipped 1 probe(s) that SCS lists without a name.",
                        "12 probe(s) have no address on SCS, so no ansible_host: %s, .... Set ansible_host with the compose "
                        "option if plays must reach them." % ", ".join("p%02d" % i for i in range(1, 11))]


def test_groups_by_template_pcap_state_and_pending_changes(tmp_path, scs):
    inventory, _warnings = run(tmp_path)
    by_key = {template["pk"]: template for template in TEMPLATES}
    on = sorted(p["name"] for p in PROBES if effective_pcap(p, by_key, "conditional_pcap", "template"))
    assert members(inventory, "scs_conditional_pcap_on") == on == ["probe-01", "probe-02"]
    assert members(inventory, "scs_conditional_pcap_off") == ["probe-03", "sensor-04"]
    assert members(inventory, "scs_template_DMZ_Paris") == ["probe-01"]
    assert members(inventory, "scs_template_lab") == ["probe-02", "probe-03"]
    assert members(inventory, "scs_no_template") == ["sensor-04"]
    assert members(inventory, "scs_pending_changes") == ["probe-02"]
    children = sorted(group.name for group in inventory.groups["scs_probes"].child_groups)
    assert children == sorted(["scs_conditional_pcap_off", "scs_conditional_pcap_on", "scs_no_template",
                               "scs_pending_changes", "scs_template_DMZ_Paris", "scs_template_lab"])
    assert members(inventory, "scs_probes") == sorted(inventory.hosts)


def test_compose_groups_and_keyed_groups_see_the_host_variables(tmp_path, scs):
    inventory, _warnings = run(tmp_path, compose={"site": "scs_descr.split(' - ')[0] | lower", "ansible_host": "'mgmt-' ~ inventory_hostname"},
                               groups={"stopped": "not scs_suri_running"},
                               keyed_groups=[{"key": "scs_template", "prefix": "tpl", "default_value": "none"},
                                             {"key": "'inherited' if scs_conditional_pcap is none else scs_conditional_pcap | string",
                                              "prefix": "own_pcap"}])
    assert inventory.get_host("probe-02").vars["site"] == "lyon"
    assert inventory.get_host("probe-01").vars["ansible_host"] == "mgmt-probe-01"  # compose wins over the address
    assert members(inventory, "stopped") == ["probe-02"]
    assert members(inventory, "own_pcap_inherited") == ["probe-01", "probe-03"]
    assert members(inventory, "own_pcap_True") == ["probe-02"] and members(inventory, "own_pcap_False") == ["sensor-04"]
    assert members(inventory, "tpl_DMZ_Paris") == ["probe-01"] and members(inventory, "tpl_none") == ["sensor-04"]


def test_strict_makes_a_bad_expression_fatal(tmp_path, scs):
    inventory, _warnings = run(tmp_path, compose={"broken": "no_such_variable.attribute"})
    assert "broken" not in inventory.get_host("probe-01").vars
    with pytest.raises(AnsibleError, match="Could not set broken for host"):
        run(tmp_path, compose={"broken": "no_such_variable.attribute"}, strict=True)


def test_name_filter(tmp_path, scs):
    inventory, _warnings = run(tmp_path, names=["probe-01", "probe-03", "ghost"], pattern="probe-*")
    assert sorted(inventory.hosts) == ["probe-01", "probe-03"]
    inventory, _warnings = run(tmp_path, pattern="sensor-*")
    assert sorted(inventory.hosts) == ["sensor-04"]


def test_a_cache_hit_sends_no_request(tmp_path, scs):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache")}
    first, _warnings = run(tmp_path, **cache)
    sent = len(scs.calls)
    assert sent == 4  # two lists, one OPTIONS per kind
    again, _warnings = run(tmp_path, **cache)
    assert len(scs.calls) == sent
    assert {name: host.vars for name, host in again.hosts.items()} == {name: host.vars for name, host in first.hosts.items()}
    assert members(again, "scs_conditional_pcap_on") == members(first, "scs_conditional_pcap_on")
    cached = "".join(path.read_text() for path in (tmp_path / "cache").iterdir())
    assert "probe-01" in cached and TOKEN not in cached

    run(tmp_path, flush=True, **cache)  # --flush-cache reads SCS again and refreshes the cache
    assert len(scs.calls) == 2 * sent
    run(tmp_path, **cache)
    assert len(scs.calls) == 2 * sent


def test_the_cache_is_not_used_for_another_scs(tmp_path, scs):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache")}
    run(tmp_path, **cache)
    sent = len(scs.calls)
    run(tmp_path, scs_url="https://scs.example.net/", tenant=2, **cache)
    assert len(scs.calls) == 2 * sent and "tenant=2" in scs.calls[-1].url


@pytest.mark.parametrize("name, accepted", [
    ("site.scs.yml", True), ("site.scs.yaml", True), ("scs.yml", True), ("scs.yaml", True), ("scs_probes.yml", True),
    ("scs_probes.yaml", True), ("site.yml", False), ("myscs.yml", False), ("site.scs.json", False)])
def test_verify_file_accepts_the_documented_names(tmp_path, name, accepted):
    path = tmp_path / name
    path.write_text("plugin: stamus.scs.probes\n")
    plugin = inventory_loader.get("stamus.scs.probes")
    plugin.display = Warnings()
    assert plugin.verify_file(str(path)) is accepted
    assert plugin.verify_file(str(tmp_path / "missing.scs.yml")) is False


def test_connection_from_environment_and_templates(tmp_path, scs, monkeypatch, ca_pem):
    monkeypatch.setenv("SCS_URL", URL)
    monkeypatch.setenv("SCS_TOKEN", TOKEN)
    monkeypatch.setenv("SCS_CA_PATH", "")  # empty is unset, as for the modules: the system trust store
    inventory, _warnings = run(tmp_path, scs_url=None, scs_token=None)
    assert len(inventory.hosts) == len(PROBES)
    assert scs.calls[0].headers["Authorization"] == "Token " + TOKEN and scs.calls[0].verify is True

    monkeypatch.setenv("OTHER_TOKEN", "templated-" + TOKEN)
    run(tmp_path, scs_token="{{ lookup('ansible.builtin.env', 'OTHER_TOKEN') }}", ca_path=ca_pem, timeout=7)
    assert scs.calls[-1].headers["Authorization"] == "Token templated-" + TOKEN and scs.calls[-1].verify == ca_pem


def test_missing_connection_options_name_the_fix(tmp_path, scs):
    message = parse_error(tmp_path, scs_url=None)
    assert message.startswith("stamus.scs.probes: No SCS connection: scs_url is not set. Set scs_url and scs_token in ")
    assert "or the SCS_URL and SCS_TOKEN environment variables." in message
    message = parse_error(tmp_path, scs_token=" ")
    assert "No SCS API token: set the scs_token option or the SCS_TOKEN environment variable." in message
    assert scs.calls == []


@pytest.mark.parametrize("options, expected", [
    ({"scs_url": "scs.example.net"}, "scs_url must be an absolute http(s) URL"),
    ({"scs_url": "https://admin:%s@scs.example.net" % TOKEN}, "scs_url must not contain credentials"),
    ({"retries": -1}, "retries must be a whole number between 0 and 20"),
    ({"api_overrides": {"tempalte_path": "x"}},
     "Invalid api_overrides: api_overrides.tempalte_path. Supported parameters include: apply_body, apply_path, comment_field"),
])
def test_bad_options_are_refused_before_any_request(tmp_path, scs, options, expected):
    assert expected in parse_error(tmp_path, **options)
    assert scs.calls == []


def test_scs_errors_become_parser_errors_without_the_token(tmp_path, fake_server, monkeypatch):
    fake_server.add("GET", "/rest/appliances/template/", status=403, json={"detail": "Invalid token."})
    message = parse_error(tmp_path)
    assert message.startswith("stamus.scs.probes could not read the probes from SCS: GET /rest/appliances/template/: "
                              "HTTP 403 (Invalid token.). SCS refused the API token: check scs_token (or SCS_TOKEN)")


def test_an_echoed_token_is_scrubbed(tmp_path, fake_server):
    fake_server.add("GET", "/rest/appliances/template/", status=500, body=("<html>token %s</html>" % TOKEN).encode(),
                    headers={"Content-Type": "text/html"})
    assert "HTTP 500 (token ********)" in parse_error(tmp_path, retries=0)


def test_names_and_addresses_ssh_could_read_as_options_are_not_used(tmp_path, fake_server):
    """Probe names and addresses come from SCS: neither may reach ssh as an option (-oProxyCommand=...)."""
    fleet = [
        {"appliance_id": 1, "name": "probe-01", "address": "10.0.0.1"},
        {"appliance_id": 2, "name": "-oProxyCommand=touch /tmp/pwned", "address": None},
        {"appliance_id": 3, "name": "probe-03\n", "address": "10.0.0.3"},
        {"appliance_id": 4, "name": "probe 04", "address": "10.0.0.4"},
        {"appliance_id": 5, "name": "probe-05", "address": "-oProxyCommand=touch /tmp/pwned"},
        {"appliance_id": 6, "name": "probe-06", "address": "probe-06.example.net\n"},
        {"appliance_id": 7, "name": "probe-07", "address": "probe-07.example.net"},
        {"appliance_id": 8, "name": "probe-08", "address": "2001:db8::8"},
    ]
    fake_server.add("GET", "/rest/appliances/template/", json=page([]))
    fake_server.add("GET", "/rest/appliances/probe/", json=page(fleet))
    fake_server.add("OPTIONS", "/rest/appliances/probe/1/", json=options_body())
    inventory, warnings = run(tmp_path)
    assert sorted(inventory.hosts) == ["probe-01", "probe-05", "probe-06", "probe-07", "probe-08"]
    addresses = {name: inventory.get_host(name).vars.get("ansible_host") for name in inventory.hosts}
    assert addresses == {"probe-01": "10.0.0.1", "probe-05": None, "probe-06": None,
                         "probe-07": "probe-07.example.net", "probe-08": "2001:db8::8"}
    assert warnings == [
        "stamus.scs.probes skipped 3 probe(s) whose name cannot be a host name (it starts with '-' or holds spaces or "
        "control characters): '-oProxyCommand=touch /tmp/pwned', 'probe-03\\n', 'probe 04'.",
        "2 probe(s) have an address on SCS that is neither an IP address nor a host name, so no ansible_host: "
        "probe-05 ('-oProxyCommand=touch /tmp/pwned'), probe-06 ('probe-06.example.net\\n'). Fix the address on SCS, "
        "or set ansible_host with the compose option."]


def test_an_unexpected_exception_is_one_scrubbed_line(tmp_path, scs, monkeypatch):
    class Broken:
        @staticmethod
        def read(manager):
            raise RuntimeError("boom with Token %s\x1b[2J" % TOKEN)
    monkeypatch.setattr(sys.modules[inventory_loader.get("stamus.scs.probes").__module__], "FleetView", Broken)
    message = parse_error(tmp_path)
    assert message.startswith("stamus.scs.probes failed reading the probes from SCS (unexpected RuntimeError: boom")
    assert "********" in message and "\x1b" not in message and "\\x1b[2J" in message


def test_probe_names_in_warnings_are_printable(tmp_path, scs):
    scs.routes = [route for route in scs.routes if route["path"] != "/rest/appliances/probe/"]
    scs.add("GET", "/rest/appliances/probe/", json=page([dict(PROBES[2], name="probe-\x1b]0;owned\x07", appliance_id=11)]))
    _inventory, warnings = run(tmp_path)
    [warning] = [message for message in warnings if "cannot be a host name" in message]
    assert "\x1b" not in warning and "\x07" not in warning and "probe-\\x1b]0;owned\\x07" in warning
