# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The connection options every module and plugin shares (see doc fragment stamus.scs.connection) and the module base."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.stamus.scs.plugins.module_utils._argspecs import CONNECTION_SPEC, merged

from ansible_collections.stamus.scs.plugins.module_utils._client import HAS_REQUESTS, ScsClient
from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError

# Where a module's connection options are set, for the message of a missing one.
MODULE_CONNECTION_PLACES = "in the task (or once for every module with module_defaults for group/stamus.scs.scs)"


def connection_argument_spec():
    """A copy of the connection options' spec (_argspecs.CONNECTION_SPEC), for the plugins that read them."""
    return merged(CONNECTION_SPEC)


def check_connection(options, places):
    """Raise ScsConfigError naming both ways to set them when scs_url or scs_token is not set (None).

    ``places`` says where the caller's options are written, e.g. "in the source's arguments". Blank values are left to
    the client's own checks, which say what is wrong with them.
    """
    missing = [name for name in ("scs_url", "scs_token") if options.get(name) is None]
    if missing:
        raise ScsConfigError("No SCS connection: %s %s not set. Set scs_url and scs_token %s, or the SCS_URL and "
                             "SCS_TOKEN environment variables." % (" and ".join(missing), "is" if len(missing) == 1 else "are", places))


def unechoed_note(value):
    """What ``invocation`` shows instead of an option that is not echoed."""
    return "(%d item(s), not echoed)" % len(value) if isinstance(value, (list, tuple, dict)) else "(not echoed)"


def client_from_options(options):
    """A client from a mapping of the connection options (a module's params, or a plugin's options)."""
    return ScsClient(options["scs_url"], options["scs_token"], validate_certs=options["validate_certs"],
                     ca_path=options["ca_path"], timeout=options["timeout"], retries=options["retries"],
                     tenant=options["tenant"])


class ScsModule(AnsibleModule):
    """AnsibleModule with the shared connection options, one lazily built client and typed-error reporting.

    The options named in ``unechoed`` (lists that may be long, such as alerts) are not echoed back in the result's
    ``invocation``, which Ansible registers and shows at -vvv: their value there is a note of how many items they held.
    """

    def __init__(self, argument_spec, unechoed=(), **kwargs):
        self._unechoed = tuple(unechoed)
        super().__init__(argument_spec=merged(CONNECTION_SPEC, argument_spec), **kwargs)
        if not HAS_REQUESTS:
            self.fail_json(msg=missing_required_lib("requests"))
        self._client = None
        try:
            check_connection(self.params, MODULE_CONNECTION_PLACES)
        except ScsConfigError as err:
            self.fail_scs(err)

    @property
    def client(self):
        """The module's client; its warnings (plain http, no TLS verification) are shown once."""
        if self._client is None:
            try:
                self._client = self.new_client()
            except ScsError as err:
                self.fail_scs(err)
            for warning in self._client.warnings:
                self.warn(warning)
        return self._client

    def new_client(self):
        """A separate client (own session) with the module's connection options, e.g. for a worker thread."""
        return client_from_options(self.params)

    def exit_json(self, **kwargs):
        self._invocation(kwargs)
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self._invocation(kwargs)
        super().fail_json(msg, **kwargs)

    def _invocation(self, result):
        # AnsibleModule adds {"module_args": self.params} unless the result has an invocation already.
        if not self._unechoed or "invocation" in result:
            return
        params = getattr(self, "params", None) or {}
        result["invocation"] = {"module_args": {
            name: unechoed_note(value) if name in self._unechoed and value is not None else value
            for name, value in params.items()}}

    def fail_scs(self, err, **result):
        """Fail the task with a typed error's message and its HTTP facts."""
        result.update(err.to_result())
        self.fail_json(msg=str(err), error_type=type(err).__name__, **result)
