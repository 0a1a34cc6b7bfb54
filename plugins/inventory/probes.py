# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: probes
short_description: Stamus Central Server probes as inventory hosts
version_added: 1.0.0
description:
  - Reads the probes of SCS Probe Management and makes each probe a host named after the probe, with
    C(ansible_host) set to the probe's address.
  - Groups the probes by template and by conditional pcap state (the effective "Activate pcap extraction on alerts"
    value, that is the probe's own, or its template's when it inherits), so that plays can target, for example, every
    probe that captures.
  - Reads with two list calls (and one C(OPTIONS) call per kind to find the pcap flag) whatever the size of the fleet;
    with O(cache) enabled, a cached inventory sends no request at all.
  - The inventory file name must be V(scs.yml), V(scs.yaml), V(scs_probes.yml), V(scs_probes.yaml), or end in
    V(.scs.yml) or V(.scs.yaml).
  - "Every host gets these variables, from M(stamus.scs.probe_info)'s fields: C(ansible_host) (only when SCS knows the
    probe's address), C(scs_appliance_id), C(scs_address), C(scs_descr), C(scs_template), C(scs_template_id),
    C(scs_conditional_pcap) (the probe's own flag, V(null) when it inherits), C(scs_conditional_pcap_effective),
    C(scs_pending_changes), C(scs_last_seen) and C(scs_suri_running)."
  - "Groups: C(scs_probes) is the parent of all the groups below; C(scs_template_<template>) holds the probes of a
    template and C(scs_no_template) those without one; C(scs_conditional_pcap_on) and C(scs_conditional_pcap_off) split
    the probes by effective pcap state; C(scs_pending_changes) holds the probes with changes not yet applied. Template
    names are sanitized for group names: every character other than letters, digits and C(_) becomes C(_) (so templates
    whose names differ only there share a group)."
author:
  - Stamus Networks (@StamusNetworks)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
  - stamus.scs.connection
  - stamus.scs.connection.plugins
  - stamus.scs.probe_api
  - stamus.scs.name_filter
options:
  plugin:
    description:
      - The name of this plugin. It must be V(stamus.scs.probes) for the file to be read by this plugin.
    type: str
    required: true
    choices:
      - stamus.scs.probes
notes:
  - >-
    In the inventory file, O(scs_url) and O(scs_token) may be Jinja templates, typically a lookup in the environment or
    a secret store (see the examples), so that the file holds no secret.
  - >-
    Probes that SCS knows no address for get no C(ansible_host) (one warning lists them): set it with O(compose), or
    target them with a connection that does not need it.
  - >-
    Names and addresses come from SCS and are not trusted. A probe whose name starts with C(-) or holds spaces or
    control characters is skipped, and an address that is neither an IP address nor a host name sets no
    C(ansible_host) (one warning lists each), so that no value from SCS can reach ssh as an option such as
    C(-oProxyCommand=...).
  - >-
    When SCS cannot be read, Ansible only warns (with this plugin's message, which names the fix) and goes on without
    these hosts. Set E(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED) to V(true) (C(any_unparsed_is_failed) in the
    C([inventory]) section of C(ansible.cfg)) to make that an error.
  - >-
    The cache holds the probes' variables only, never the token. It is keyed by the inventory file and records the
    SCS URL, tenant and O(api_overrides) it was read with: changing any of them reads SCS again.
seealso:
  - module: stamus.scs.probe_info
  - module: stamus.scs.conditional_pcap
  - plugin: ansible.builtin.constructed
    plugin_type: inventory
"""

EXAMPLES = r"""
# prod.scs.yml: every probe; the connection comes from SCS_URL, SCS_TOKEN and SCS_CA_PATH.
plugin: stamus.scs.probes

---
# lab.scs.yml: the connection in the file, the token from another variable (any lookup works), DMZ probes only,
# one group per site (from the probe description) and the inventory cached for ten minutes.
plugin: stamus.scs.probes
scs_url: https://scs.lab.example.net
scs_token: "{{ lookup('ansible.builtin.env', 'LAB_SCS_TOKEN') }}"
ca_path: /etc/pki/scs-lab-ca.pem
pattern: "probe-dmz-*"
keyed_groups:
  - key: scs_descr | regex_replace('^.* - ', '')
    prefix: site
compose:
  ansible_user: "'suricata'"
groups:
  stale_probes: not scs_suri_running
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible/scs
cache_timeout: 600

# Then, for example:
#   ansible-inventory -i prod.scs.yml --graph
#   ansible-playbook -i prod.scs.yml site.yml --limit scs_conditional_pcap_off
"""

import ipaddress
import os
import re

from ansible.errors import AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.stamus.scs.plugins.module_utils._client import normalize_base_url, scrub_secret
from ansible_collections.stamus.scs.plugins.module_utils._argspecs import PROBE_API_SPEC, validated_option
from ansible_collections.stamus.scs.plugins.module_utils._module_base import check_connection, client_from_options, connection_argument_spec
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError
from ansible_collections.stamus.scs.plugins.module_utils._probe_api import resolve_api
from ansible_collections.stamus.scs.plugins.module_utils._probes import FleetView, ProbeManager, filter_items
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

FILE_NAMES = ("scs.yml", "scs.yaml", "scs_probes.yml", "scs_probes.yaml")
FILE_SUFFIXES = (".scs.yml", ".scs.yaml")
TEMPLATED_OPTIONS = ("scs_url", "scs_token")
PARENT_GROUP = "scs_probes"
VAR_PREFIX = "scs_"
MAX_LISTED = 10
# Probe names become inventory host names (and, without an address, what ssh connects to) and probe addresses become
# ansible_host: SCS data that ssh could read as an option (-oProxyCommand=...), or with spaces or control characters,
# is not used.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME_RE = re.compile(r"%s(?:\.%s)*\.?" % (_LABEL, _LABEL))  # whole string: fullmatch


def usable_name(name):
    return (isinstance(name, str) and name.isprintable() and not name.startswith("-")
            and not any(char.isspace() for char in name))


def usable_address(address):
    if not isinstance(address, str):
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return bool(HOST_NAME_RE.fullmatch(address))
    return True


def host_vars(probe):
    """A probe view (FleetView.probe) as host variables."""
    variables = {VAR_PREFIX + key: value for key, value in probe.items() if key != "name"}
    if usable_address(probe.get("address")):
        variables["ansible_host"] = probe["address"]
    return variables


def listed(items):
    return printable(", ".join(items[:MAX_LISTED]) + (", ..." if len(items) > MAX_LISTED else ""))


def group_names(probe):
    """The plugin's own groups for one probe view."""
    template = probe.get("template")
    groups = [to_safe_group_name("scs_template_%s" % template, force=True, silent=True) if template else "scs_no_template",
              "scs_conditional_pcap_on" if probe.get("conditional_pcap_effective") else "scs_conditional_pcap_off"]
    if probe.get("pending_changes"):
        groups.append("scs_pending_changes")
    return groups


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "stamus.scs.probes"

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        name = os.path.basename(path)
        if name in FILE_NAMES or name.endswith(FILE_SUFFIXES):
            return True
        self.display.vvv("stamus.scs.probes skips %s: the file name must be one of %s or end in %s." % (
            path, ", ".join(FILE_NAMES), " or ".join(FILE_SUFFIXES)))
        return False

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            probes = self._probes(path, cache)
        except ScsConfigError as err:  # nothing was sent
            raise AnsibleParserError("stamus.scs.probes: %s" % err) from None
        except ScsError as err:
            raise AnsibleParserError("stamus.scs.probes could not read the probes from SCS: %s" % err) from None
        except Exception as err:  # pylint: disable=broad-exception-caught
            # Anything else is a bug: reported in one line, its text scrubbed of the token like the client's errors.
            raise AnsibleParserError("stamus.scs.probes failed reading the probes from SCS (unexpected %s: %s)" % (
                type(err).__name__, scrub_secret(err, getattr(self, "_scs_token", None)))) from None
        self._populate(filter_items(probes, self.get_option("names"), self.get_option("pattern")))

    # -- reading, through the cache --------------------------------------------------------------

    def _probes(self, path, cache):
        """Probe views from the cache when allowed and read from the same SCS, else from SCS (then cached)."""
        options = self._connection_options()
        check_connection(options, "in %s (or [stamus_scs] scs_url in ansible.cfg)" % path)
        source = {"scs_url": normalize_base_url(options["scs_url"]), "tenant": options["tenant"],
                  "api_overrides": self.get_option("api_overrides") or {}}
        use_cache = self.get_option("cache")
        cache_key = self.get_cache_key(path)
        if use_cache and cache:
            try:
                entry = self._cache[cache_key]
            except KeyError:
                entry = None
            if isinstance(entry, dict) and entry.get("source") == source:
                return entry["probes"]
        probes = self._read_fleet(options)
        if use_cache:
            self._cache[cache_key] = {"source": source, "probes": probes}
        return probes

    def _connection_options(self):
        options = {}
        for name in connection_argument_spec():
            value, origin = self.get_option_and_origin(name)
            if origin.startswith("env:") and os.environ.get(origin[4:].strip()) == "":
                value = None  # an empty variable is unset, as for the modules (else a path option becomes the cwd)
            elif name in TEMPLATED_OPTIONS and isinstance(value, str) and self.templar.is_template(value):
                value = self.templar.template(value)
            options[name] = value
        self._scs_token = options["scs_token"]  # pylint: disable=attribute-defined-outside-init
        return options

    def _read_fleet(self, options):
        api = resolve_api(validated_option(PROBE_API_SPEC, "api_overrides", self.get_option("api_overrides")))
        client = client_from_options(options)
        try:
            for warning in client.warnings:
                self.display.warning(warning)
            fleet = FleetView.read(ProbeManager(client, api))
            return [fleet.probe(probe) for probe in fleet.probes]
        finally:
            client.close()

    # -- building the inventory ------------------------------------------------------------------

    def _populate(self, probes):
        strict = self.get_option("strict")
        self.inventory.add_group(PARENT_GROUP)
        unnamed, unusable, without_address, bad_address = 0, [], [], []
        for probe in probes:
            if not probe.get("name"):
                unnamed += 1
                continue
            if not usable_name(probe["name"]):
                unusable.append(repr(probe["name"]))
                continue
            host = self.inventory.add_host(probe["name"])
            for key, value in host_vars(probe).items():
                self.inventory.set_variable(host, key, value)
            for group in group_names(probe):
                self.inventory.add_child(PARENT_GROUP, self.inventory.add_group(group))
                self.inventory.add_host(host, group=group)
            if not probe.get("address"):
                without_address.append(host)
            elif not usable_address(probe["address"]):
                bad_address.append("%s (%r)" % (host, probe["address"]))
            variables = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), variables, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, host, strict=strict)
        if unnamed:
            self.display.warning("stamus.scs.probes skipped %d probe(s) that SCS lists without a name." % unnamed)
        if unusable:
            self.display.warning("stamus.scs.probes skipped %d probe(s) whose name cannot be a host name (it starts with "
                                 "'-' or holds spaces or control characters): %s." % (len(unusable), listed(unusable)))
        if without_address:
            self.display.warning("%d probe(s) have no address on SCS, so no ansible_host: %s. Set ansible_host with "
                                 "the compose option if plays must reach them." % (
                                     len(without_address), listed(without_address)))
        if bad_address:
            self.display.warning("%d probe(s) have an address on SCS that is neither an IP address nor a host name, so "
                                 "no ansible_host: %s. Fix the address on SCS, or set ansible_host with the compose "
                                 "option." % (len(bad_address), listed(bad_address)))
