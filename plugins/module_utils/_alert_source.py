# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The stamus.scs.alerts event source without its asyncio shell: options (with the modules' connection options and
environment variables), the start, the error policy, the backoff and the state file."""

from __future__ import annotations

import json
import logging
import math
import os
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import AnsibleFallbackNotFound

from ansible_collections.stamus.scs.plugins.module_utils._alert_poller import AlertPoller, alert_filter, event_kinds_of
from ansible_collections.stamus.scs.plugins.module_utils._alert_api import EVENT_KIND_FLAGS
from ansible_collections.stamus.scs.plugins.module_utils._alerts import ALERT_ID_RE, MAX_FLOW_ID, parse_since
from ansible_collections.stamus.scs.plugins.module_utils._client import check_ca_path
from ansible_collections.stamus.scs.plugins.module_utils._module_base import (
    check_connection,
    client_from_options,
    connection_argument_spec,
)
from ansible_collections.stamus.scs.plugins.module_utils._errors import (
    ScsAuthenticationError,
    ScsConfigError,
    ScsLimitError,
    ScsNotFoundError,
    ScsPermissionError,
    ScsProtocolError,
    ScsValidationError,
)
from ansible_collections.stamus.scs.plugins.module_utils._evidence import SAFE_DIRNAME_RE
from ansible_collections.stamus.scs.plugins.module_utils._files import atomic_write_chunks, remove_stale_parts
from ansible_collections.stamus.scs.plugins.module_utils._text import printable

LOG = logging.getLogger("stamus.scs.alerts")
SOURCE_OPTIONS = {
    "qfilter": {"type": "str"},
    "severity": {"type": "list", "elements": "int"},
    "signature_ids": {"type": "list", "elements": "int"},
    "probes": {"type": "list", "elements": "str"},
    "event_kinds": {"type": "list", "elements": "str", "choices": list(EVENT_KIND_FLAGS)},
    "since": {"type": "str"},
    "interval": {"type": "float", "default": 15.0},
    "overlap": {"type": "float", "default": 60.0},
    "page_size": {"type": "int", "default": 100},
    "max_seen": {"type": "int", "default": 100000},
    "max_backoff": {"type": "float", "default": 300.0},
    "max_clock_skew": {"type": "float", "default": 30.0},
    "state_file": {"type": "path"},
}
DURATIONS = ("interval", "overlap", "max_backoff", "max_clock_skew", "timeout")
# A probe name becomes a directory name.
MAX_PROBE_NAME_LENGTH = 255
# Added by ansible-rulebook itself, not by the user.
RULEBOOK_ARGS = frozenset(("eda_feedback_queue",))
# Errors that retrying cannot fix: at the start they stop the source with their message.
FATAL_AT_START = (ScsConfigError, ScsAuthenticationError, ScsPermissionError, ScsValidationError, ScsNotFoundError,
                  ScsProtocolError, ScsLimitError)


def source_spec(environ):
    """The source's argument spec: the modules' connection options, whose environment fallbacks read ``environ`` (an
    empty variable counts as unset, as for the modules), and SOURCE_OPTIONS."""
    def from_environ(*names):
        for name in names:
            if environ.get(name):
                return environ[name]
        raise AnsibleFallbackNotFound

    spec = {}
    for name, option in connection_argument_spec().items():
        spec[name] = dict(option, fallback=(from_environ, option["fallback"][1])) if "fallback" in option else option
    spec.update(SOURCE_OPTIONS)
    return spec


def source_settings(args, environ):
    """The validated options: each from ``args``, else from its environment variable, else its default.

    ansible-core's ArgumentSpecValidator checks them as a module's are: types (a comma-separated string or a number for
    a list), choices, unknown options. An argument the rulebook rendered to null (``{{ x | default(none) }}``) is unset.
    """
    given = {name: value for name, value in args.items() if name not in RULEBOOK_ARGS and value is not None}
    result = ArgumentSpecValidator(source_spec(environ)).validate(given)
    unknown = sorted(result.unsupported_parameters)
    if unknown:
        raise ScsConfigError("stamus.scs.alerts does not know the option(s) %s; its options are: %s."
                             % (", ".join(unknown), ", ".join(sorted(source_spec(environ)))))
    if result.error_messages:
        raise ScsConfigError("stamus.scs.alerts options: %s." % printable("; ".join(result.error_messages)))
    settings = result.validated_parameters
    check_connection(settings, "in the source's arguments")
    for name in DURATIONS:
        if not math.isfinite(settings[name]):  # nan and inf are no durations
            raise ScsConfigError("%s must be a number of seconds (got %r)." % (name, given.get(name)))
    for name in ("interval", "overlap", "max_backoff", "max_clock_skew"):
        if settings[name] <= 0 and not (name in ("overlap", "max_clock_skew") and settings[name] == 0):
            raise ScsConfigError("%s must be a positive number of seconds (got %s)." % (name, settings[name]))
    if settings["max_seen"] < 1:
        raise ScsConfigError("max_seen must be 1 or more (got %s)." % settings["max_seen"])
    for name in ("ca_path", "state_file"):
        if settings[name]:
            settings[name] = os.path.abspath(settings[name])
    if settings["ca_path"] and settings["validate_certs"] is not False:
        check_ca_path(settings["ca_path"])
    state_dir = os.path.dirname(settings["state_file"] or "") or None
    if state_dir and not os.access(state_dir, os.W_OK | os.X_OK):
        raise ScsConfigError("state_file %s: its directory does not exist or is not writable; create it or choose "
                             "another path." % settings["state_file"])
    return settings


def alert_ref(alert):
    """``{"alert_id", "probe", "flow_id"}`` of an alert when all three are safe, else None.

    Playbooks receive events as extra variables, which Ansible renders as templates: only values that cannot hold
    template syntax may reach them. Each one full-matches a strict pattern: the alert id SCS's id alphabet, the probe
    the directory-name pattern of the evidence files, the flow id a 64-bit unsigned integer.
    """
    alert_id, probe, flow_id = alert.get("_id"), alert.get("host"), alert.get("flow_id")
    if not (isinstance(alert_id, str) and ALERT_ID_RE.fullmatch(alert_id)):
        return None
    if not (isinstance(probe, str) and len(probe) <= MAX_PROBE_NAME_LENGTH and SAFE_DIRNAME_RE.fullmatch(probe)):
        return None
    if isinstance(flow_id, bool) or not isinstance(flow_id, int) or not 0 <= flow_id <= MAX_FLOW_ID:
        return None
    return {"alert_id": alert_id, "probe": probe, "flow_id": flow_id}


def quoted(value, length=80):
    """``repr(value)``, shortened: no control character nor template reaches a log as is."""
    text = repr(value)
    return text if len(text) <= length else text[:length - 3] + "..."


def backoff_delay(failures, base, cap):
    """Seconds to wait after ``failures`` failed polls in a row: ``base``, doubling, at most ``cap``."""
    return min(cap, base * 2 ** min(failures - 1, 30))


class AlertSource:  # pylint: disable=too-many-instance-attributes
    """Start, then ``step()`` again and again; ``commit()`` once the events of a step are queued."""

    def __init__(self, client, poller, interval, max_backoff, state_file=None, prime=False, log=LOG):
        self.client = client
        self.poller = poller
        self.interval = interval
        self.max_backoff = max_backoff
        self.state_file = state_file
        self.log = log
        self.started = False
        self.failures = 0
        self._priming = prime
        self._dirty = False

    @classmethod
    def from_args(cls, args, environ=None, log=LOG, now=time.time):
        settings = source_settings(args, os.environ if environ is None else environ)
        client = client_from_options(settings)
        for warning in client.warnings:
            log.warning(warning)
        overlap_ms = int(settings["overlap"] * 1000)
        now_ms = int(now() * 1000)
        since = settings["since"]
        start_ms = now_ms - parse_since(since) * 1000 if since else now_ms - overlap_ms
        flags = event_kinds_of(settings["event_kinds"])
        poller = AlertPoller(client, alert_filter(settings["qfilter"], settings["severity"], settings["signature_ids"]),
                             start_ms=start_ms, page_size=settings["page_size"], overlap_ms=overlap_ms,
                             max_seen=settings["max_seen"], warn=lambda message: log.warning(printable(message)),
                             max_skew_ms=int(settings["max_clock_skew"] * 1000), now=now, probes=settings["probes"],
                             flags=flags)
        restored = load_state(settings["state_file"], poller)
        source = cls(client, poller, settings["interval"], settings["max_backoff"], state_file=settings["state_file"],
                     prime=not since and not restored, log=log)
        if restored:
            start = "continuing from the state in %s" % settings["state_file"]
        else:
            start = "the last %s, then new ones" % since if since else "new ones only"
        kinds = ", ".join(kind for kind, flag in EVENT_KIND_FLAGS.items() if flags[flag] == "true")
        log.info("Polling %s every %gs for events (%s)%s%s (%s).", client.base_url, settings["interval"], kinds,
                 " matching %s" % poller.qfilter if poller.qfilter else "",
                 " of the probes %s" % ", ".join(quoted(name) for name in poller.probes) if poller.probes else "", start)
        return source

    def step(self):
        """Poll once; return ``(events, delay)``: the events to queue, then the seconds to wait before the next step.

        Before the first successful poll, errors that retrying cannot fix are raised. Every other error is logged and
        retried after a backoff, so the source never stops on a passing failure (nor on a token revoked later on).
        """
        try:
            alerts, more = self.poller.poll()
        except FATAL_AT_START as err:
            if not self.started:
                raise
            return [], self._failed(err)
        except Exception as err:  # pylint: disable=broad-exception-caught
            return [], self._failed(err)
        if self.failures:
            self.log.info("SCS answers again after %d failed poll(s).", self.failures)
        self.started, self.failures = True, 0
        self._dirty = True
        if self._priming:
            self._priming = more  # the alerts already on SCS when the source starts are read, never emitted
            return [], 0 if more else self.interval
        return [self.event(alert) for alert in alerts], 0 if more else self.interval

    def event(self, alert):
        """The event of an alert: the alert itself for rule conditions, and its safe reference for playbooks."""
        ref = alert_ref(alert)
        if ref is None:
            self.log.warning("Alert %s has no safe reference (host %s, flow_id %s): its event has no stamus_ref, so "
                             "stamus.scs.pcap_on_alert does not fetch its pcap. Alert ids must match %s, probe names %s, "
                             "flow ids be whole numbers below 2^64.", quoted(alert.get("_id")), quoted(alert.get("host")),
                             quoted(alert.get("flow_id")), ALERT_ID_RE.pattern, SAFE_DIRNAME_RE.pattern)
            return {"stamus_alert": alert}
        return {"stamus_alert": alert, "stamus_ref": ref}

    def _failed(self, err):
        self.failures += 1
        delay = backoff_delay(self.failures, self.interval, self.max_backoff)
        # The client scrubs the token from its own errors; scrub() covers any other exception too.
        self.log.warning("Polling SCS failed (%s: %s); attempt %d, next in %gs.", type(err).__name__,
                         self.client.scrub(err), self.failures, delay)
        return delay

    def commit(self):
        """Save the state once the events of the last step are queued (so a restart repeats rather than loses)."""
        if not self.state_file or not self._dirty:
            return
        try:
            save_state(self.state_file, self.poller.state())
            self._dirty = False
        except OSError as err:
            self.log.warning("Could not write state_file %s (%s): a restart may emit alerts again.", self.state_file, err)


def load_state(path, poller):
    """Restore ``poller`` from ``path``; False when there is no state yet."""
    if path:
        remove_stale_parts(os.path.dirname(path), name=os.path.basename(path))  # left by a source killed mid-write
    if not path or not os.path.exists(path):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            poller.restore(json.load(handle))
    except (OSError, ValueError) as err:
        raise ScsConfigError("state_file %s is unreadable (%s): delete it to start over (alerts of the last overlap may "
                             "then be emitted again, or missed if the source was stopped longer)." % (path, err)) from None
    return True


def save_state(path, state):
    atomic_write_chunks(path, [json.dumps(state, sort_keys=True).encode("utf-8")], mode=0o600)
