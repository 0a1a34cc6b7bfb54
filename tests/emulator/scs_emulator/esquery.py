"""How Scirius turns alerts_tail's parameters into an Elasticsearch query (rules/es_graphs.py, rules/es_query.py):
the event-type clause of the `alert`, `stamus` and `discovery` flags, and the date range. Pure functions of the
query parameters (a mapping of strings)."""

import time

DEFAULT_WINDOW_MS = 30 * 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
# The kinds of events, their flag and its default (scirius/rest_utils.py).
FLAG_DEFAULTS = {"alert": "true", "stamus": "false", "discovery": "false"}


def _enabled(params, flag):
    """Scirius's _is_enabled: a flag is off only when empty, "false" or "0" (any case)."""
    value = params.get(flag, FLAG_DEFAULTS[flag])
    return bool(value) and value.lower() not in ("false", "0")


def event_type_clause(params):
    """The event-type part of the query for the flags, exactly as Scirius's build_event_type writes it."""
    alert, stamus, discovery = (_enabled(params, flag) for flag in ("alert", "stamus", "discovery"))
    types = []
    if alert ^ discovery:
        types.append("(event_type:alert AND discovery:*)" if discovery else "(event_type:alert AND NOT discovery:*)")
    elif alert and discovery:
        types.append("event_type:alert")
    if stamus:
        types.append("event_type:stamus")
    clause = " OR ".join(types)
    return "(%s)" % clause if len(types) > 1 else clause


def date_range(params):
    """(from_ms, to_ms) as Scirius's _from_date/_to_date. A value that is not a number raises ValueError, which SCS
    does not catch (an HTML 500)."""
    now_ms = time.time() * 1000
    if params.get("to_date", "now") != "now":
        to_ms = int(params["to_date"])
    elif params.get("end_date", "now") != "now":
        to_ms = float(params["end_date"]) * 1000
    else:
        to_ms = now_ms
    if "from_date" in params:
        from_ms = int(params["from_date"])
    elif "start_date" in params:
        from_ms = float(params["start_date"]) * 1000
    else:
        from_ms = now_ms - DEFAULT_WINDOW_MS
    if from_ms >= to_ms:
        # "Asking for a date in the future (browser of the user has clock out of sync), return last hour"
        from_ms = to_ms - HOUR_MS
    return int(from_ms), int(to_ms)
