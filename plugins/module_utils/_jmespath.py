# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""JMESPath queries over module results (the ``query`` option)."""

from __future__ import annotations

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError

try:
    import jmespath
except ImportError:  # pragma: no cover - depends on the host
    jmespath = None


def compile_query(expression):
    """Check a JMESPath expression before any API call; return an object with ``search(data)``."""
    if jmespath is None:
        raise ScsConfigError("The query option needs the Python library 'jmespath' on the host that runs the module: "
                             "pip install jmespath.")
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ScsConfigError("query is not a valid JMESPath expression (%s): %s" % (expression, exc)) from None
