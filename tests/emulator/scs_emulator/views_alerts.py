"""Alert endpoints (Elasticsearch-backed in SCS): alerts_tail, alerts_count, events_from_flow_id."""

import math
import re
import time

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from .alertindex import INDEX
from .qfilter import QueryError, compile_query, lookup

ORDERING_RE = re.compile(r"^-?[0-9a-zA-Z_@.]+$")
MAX_WINDOW = 10000
DEFAULT_WINDOW_MS = 30 * 24 * 3600 * 1000
DEFAULT_PAGE_SIZE = 30


class EsFailure(Exception):
    """An Elasticsearch error: SCS answers 500 {"detail": "ES failure: ..."}."""


def _es_failure(message):
    return Response({"detail": "ES failure: %s" % message}, status=500)


def _int_param(params, name, default=None):
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(float(raw))
    except (TypeError, ValueError):
        raise ValidationError({name: ["A valid integer is required."]}) from None


def date_range(params):
    """(from_ms, to_ms) from from_date/to_date (ms) or start_date/end_date (s); default: last 30 days."""
    now_ms = int(time.time() * 1000)
    to_ms = _int_param(params, "to_date")
    if to_ms is None:
        end = _int_param(params, "end_date")
        to_ms = end * 1000 if end is not None else now_ms
    from_ms = _int_param(params, "from_date")
    if from_ms is None:
        start = _int_param(params, "start_date")
        from_ms = start * 1000 if start is not None else to_ms - DEFAULT_WINDOW_MS
    return from_ms, to_ms


def filtered(params):
    try:
        predicate = compile_query(params.get("qfilter"))
    except QueryError as exc:
        raise EsFailure(str(exc)) from None
    from_ms, to_ms = date_range(params)
    return INDEX.search(predicate, from_ms, to_ms)


def _sort_key(field):
    def key(doc):
        vals = lookup(doc, field)
        val = vals[0] if vals else None
        if isinstance(val, bool):
            return (0, int(val))
        if isinstance(val, (int, float)):
            return (0, val)
        return (1, str(val))
    return key


def order(docs, ordering):
    if ordering in ("-@timestamp", "-timestamp"):
        return docs
    desc = ordering.startswith("-")
    field = ordering.lstrip("-")
    if field.endswith((".raw", ".keyword")):
        field = field.rsplit(".", 1)[0]
    present = [d for d in docs if lookup(d, field)]
    missing = [d for d in docs if not lookup(d, field)]
    if field in ("@timestamp", "timestamp"):
        present = list(reversed(present))  # already newest first; stable ascending by time
    else:
        present.sort(key=_sort_key(field), reverse=desc)
    return present + missing


class AlertsTailView(APIView):
    def get(self, request):
        params = request.query_params
        ordering = params.get("ordering") or "-@timestamp"
        if not ORDERING_RE.match(ordering):
            return Response({"ordering": ["Invalid ordering value: %s" % ordering]}, status=400)
        try:
            page = int(params.get("page") or 1)
        except ValueError:
            raise NotFound("Invalid page.") from None
        try:
            page_size = int(params.get("page_size") or DEFAULT_PAGE_SIZE)
        except ValueError:
            page_size = DEFAULT_PAGE_SIZE
        if page_size <= 0:
            page_size = DEFAULT_PAGE_SIZE
        if page < 1:
            raise NotFound("Invalid page.")
        if page * page_size > MAX_WINDOW:
            return _es_failure(
                "Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. "
                "See the scroll api for a more efficient way to request large data sets. This limit can be set by "
                "changing the [index.max_result_window] index level setting." % (MAX_WINDOW, page * page_size))
        try:
            docs = filtered(params)
        except EsFailure as exc:
            return _es_failure(exc)
        count = min(len(docs), MAX_WINDOW)
        num_pages = max(1, math.ceil(count / page_size))
        if page > num_pages:
            raise NotFound("Invalid page.")
        docs = order(docs, ordering)
        results = docs[(page - 1) * page_size:page * page_size]
        url = request.build_absolute_uri()
        nxt = replace_query_param(url, "page", page + 1) if page < num_pages else None
        if page <= 1:
            prev = None
        elif page == 2:
            prev = remove_query_param(url, "page")
        else:
            prev = replace_query_param(url, "page", page - 1)
        return Response({"count": count, "next": nxt, "previous": prev, "results": results})


class AlertsCountView(APIView):
    def get(self, request):
        try:
            docs = filtered(request.query_params)
        except EsFailure as exc:
            return _es_failure(exc)
        body = {"doc_count": len(docs)}
        if request.query_params.get("prev") in ("1", "true", "True"):
            from_ms, to_ms = date_range(request.query_params)
            span = to_ms - from_ms
            prev_params = request.query_params.copy()
            prev_params["from_date"], prev_params["to_date"] = str(from_ms - span), str(from_ms)
            body["prev_doc_count"] = len(filtered(prev_params))
        return Response(body)


class EventsFromFlowIdView(APIView):
    """All events of a flow, grouped by event type (only alert events and their app-layer event)."""

    def get(self, request):
        params = request.query_params.copy()
        if not params.get("qfilter"):
            return Response({"qfilter": ["This field is required."]}, status=400)
        params.setdefault("from_date", "0")
        try:
            docs = filtered(params)
        except EsFailure as exc:
            return _es_failure(exc)
        docs = sorted(docs, key=lambda d: (d["@timestamp"], d["_id"]))
        out = {}
        if docs:
            out["Alert"] = docs
            first = docs[0]
            for app in ("http", "tls", "dns", "ssh", "smb"):
                if app in first:
                    keys = ("@timestamp", "timestamp", "flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "host")
                    event = {k: first[k] for k in keys if k in first}
                    event["event_type"] = app
                    event[app] = first[app]
                    out[app.capitalize()] = [event]
        return Response(out)
