"""Alert endpoints (Elasticsearch-backed in SCS): alerts_tail, alerts_count, events_from_flow_id.

They follow Scirius (rules/rest_api.py ESAlertsTailViewSet, rules/es_query.py, rules/es_graphs.py): the event kinds
behind the `alert`, `discovery` and `stamus` flags, dates in ms (from_date/to_date) or s (start_date/end_date), a
start at or after the end silently turned into the last hour, a page past the end answered with empty results, a
bad ordering answered 400 with a bare JSON string, and (with the `raw_hits` setting, as before mid-2022) results as
raw Elasticsearch hits.
"""

import datetime
import re

from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from . import alertgen, flowevents, pcapstore, runtime
from .alertindex import INDEX
from .esquery import date_range, event_type_clause
from .qfilter import QueryError, compile_query, lookup

ORDERING_RE = re.compile(r"^-?[0-9a-zA-Z_@.]+")  # as Scirius: re.fullmatch
MAX_WINDOW = 10000
DEFAULT_PAGE_SIZE = 30


class EsFailure(Exception):
    """An Elasticsearch error: SCS answers 500 {"detail": "ES failure: ..."}."""


def _es_failure(message):
    return Response({"detail": "ES failure: %s" % message}, status=500)


def filtered(params, event_type=None):
    """The documents of the query: ``event_type`` (default: from the flags), then " AND <qfilter>" unparenthesised,
    as Scirius builds it; within the date range."""
    query = "%s %s" % (event_type_clause(params) if event_type is None else event_type,
                       " AND " + params["qfilter"] if "qfilter" in params else "")
    if not query.strip():
        return []  # every flag off: an empty query_string matches no document
    try:
        predicate = compile_query(query, bool(runtime.CONFIG.get("analysed_subfields")))
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


def raw_hit(doc):
    """A document as an Elasticsearch hit, as alerts_tail returned them before mid-2022 (scirius 32999ed7)."""
    source = {key: value for key, value in doc.items() if key != "_id"}
    day = str(doc.get("@timestamp", ""))[:10].replace("-", ".")
    index = "logstash-%s-%s" % ("stamus" if doc.get("event_type") == "stamus" else "alert", day)
    stamp = datetime.datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))
    return {"_index": index, "_type": "_doc", "_id": doc["_id"], "_score": None, "_source": source,
            "sort": [int(stamp.timestamp() * 1000)]}


def _page_size(params):
    """DRF's get_page_size: a value that is not a positive integer gives the default; no maximum."""
    try:
        size = int(params.get("page_size") or DEFAULT_PAGE_SIZE)
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size > 0 else DEFAULT_PAGE_SIZE


class AlertsTailView(APIView):
    def get(self, request):
        params = request.query_params
        ordering = params.get("ordering")
        if ordering and not ORDERING_RE.fullmatch(ordering):
            return Response("Wrong ordering value: %s" % ordering, status=400)
        page = int(params.get("page", 1))  # not a number: a ValueError SCS does not catch (an HTML 500)
        page_size = _page_size(params)
        if page < 1:
            return _es_failure("[from] parameter cannot be negative, found [%d]" % ((page - 1) * page_size))
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
        docs = order(docs, ordering or "-@timestamp")
        results = docs[(page - 1) * page_size:page * page_size]
        if runtime.CONFIG.get("raw_hits"):
            results = [raw_hit(doc) for doc in results]
        url = request.build_absolute_uri()
        nxt = None if page * page_size >= count else replace_query_param(url, "page", page + 1)
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
    """All events of the flows the qfilter selects, as Scirius's ESEventsFromFlowID (rules/es_graphs.py): at most
    MAX_FLOW_EVENTS, newest first, grouped by title-cased event_type, without _id, in alerts_tail's date window. The
    alerts come from the index; the flow, app-layer and fileinfo events are derived from the flow's packets in the
    probe's pcap store (flowevents.py) and filtered by the same query."""

    def get(self, request):
        params = request.query_params
        if not params.get("qfilter"):
            return Response({"qfilter": ["This field is required."]}, status=400)
        query = "event_type:* AND " + params["qfilter"]
        try:
            predicate = compile_query(query, bool(runtime.CONFIG.get("analysed_subfields")))
        except QueryError as exc:
            return _es_failure(exc)
        from_ms, to_ms = date_range(params)
        docs = INDEX.search(predicate, from_ms, to_ms)
        for event in _derived(docs):
            if predicate(event) and from_ms <= _ms(event["@timestamp"]) <= to_ms:
                docs.append(event)
        docs.sort(key=lambda doc: doc["@timestamp"], reverse=True)
        out = {}
        for doc in docs[:MAX_FLOW_EVENTS]:
            out.setdefault(str(doc.get("event_type")).title(), []).append(
                {key: value for key, value in doc.items() if key != "_id"})
        return Response(out)


MAX_FLOW_EVENTS = 100


def _ms(iso):
    return int(datetime.datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp() * 1000)


def _derived(alerts):
    """The non-alert events of each flow (probe, flow_id) of ``alerts``, from the pcap its earliest alert with a
    capture file extracts."""
    sources = {}
    for alert in sorted(alerts, key=lambda doc: doc["@timestamp"]):
        if alert.get("capture_file") and alert.get("event_type") == "alert":
            sources.setdefault((alert.get("host"), alert.get("flow_id")), alert)
    events = []
    data_dir = runtime.CONFIG["data_dir"]
    for (host, _flow_id), alert in sources.items():
        try:
            pcap = pcapstore.extract_for_alert(pcapstore.store_dir(data_dir, host), alert)
        except pcapstore.ExtractionError:
            continue
        tz = datetime.datetime.fromisoformat(alert["timestamp"]).tzinfo
        events += flowevents.derived_events(
            alert, pcap, data_dir, alertgen.iso_utc_ms,
            lambda ts, tz=tz: datetime.datetime.fromtimestamp(ts, tz=tz).strftime("%Y-%m-%dT%H:%M:%S.%f%z"))
    return events
