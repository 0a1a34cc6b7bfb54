"""The emulator's own admin / test API under /_emulator/: no auth, loopback clients only."""

import ipaddress
import json
import os
import random
import shutil
import time
import uuid

from django.db import transaction
from django.db.models import F
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import alertgen, pcapstore, runtime, tasks, tunnels, views_pcap
from .alertindex import INDEX
from .faults import FAULTS, REQUESTS, FaultError
from .models import Alert, AuditLog, Probe, SeedInfo, Task, Template
from .seed import alert_row

ADD_KINDS = ("normal", "no_packets", "same_flow", "doc", "sighting")


def _loopback(request):
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _body(request):
    if not request.body:
        return {}
    return json.loads(request.body)


def admin_view(methods):
    def wrap(func):
        @csrf_exempt
        def view(request, *args, **kwargs):
            if not _loopback(request):
                return JsonResponse({"detail": "The emulator admin API only answers loopback clients."}, status=403)
            if request.method not in methods:
                return JsonResponse({"detail": "Method \"%s\" not allowed." % request.method}, status=405)
            try:
                body = _body(request) if request.method in ("POST", "PUT", "PATCH") else {}
            except ValueError as exc:
                return JsonResponse({"detail": "invalid JSON body: %s" % exc}, status=400)
            if not isinstance(body, dict):
                return JsonResponse({"detail": "JSON body must be an object"}, status=400)
            return func(request, body, *args, **kwargs)
        return view
    return wrap


@admin_view(("GET",))
def health(request, body):  # pylint: disable=unused-argument
    return JsonResponse({"ok": True, "probes": Probe.objects.count(), "alerts": len(INDEX)})


@admin_view(("GET", "POST", "DELETE"))
def faults(request, body):
    if request.method == "DELETE":
        FAULTS.clear()
        return JsonResponse({"faults": []})
    if request.method == "POST":
        try:
            fault = FAULTS.add(body)
        except FaultError as exc:
            return JsonResponse({"detail": str(exc)}, status=400)
        return JsonResponse(fault, status=201)
    return JsonResponse({"faults": FAULTS.list()})


@admin_view(("GET", "DELETE"))
def requests_log(request, body):  # pylint: disable=unused-argument
    if request.method == "DELETE":
        REQUESTS.clear()
        return JsonResponse({"requests": []})
    return JsonResponse({"requests": REQUESTS.list()})


def _probe(name):
    return Probe.objects.select_related("template").filter(name=name).first()


def deep_merge(doc, fields):
    """``doc`` with ``fields`` merged in: nested objects are merged key by key, anything else replaces (or adds)."""
    merged = dict(doc)
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _fields_error(fields, count):
    """Why the ``fields`` of an add_alerts call cannot apply to ``count`` new alerts, or None."""
    if fields is None:
        return None
    if not isinstance(fields, dict):
        return "fields must be an object (merged into each new alert)"
    if "_id" in fields and count > 1:
        return "fields may set _id only with count 1 (alert ids are unique)"
    return None


def _merge_fields(generated, fields):
    """Merge ``fields`` into each generated (doc, ts); return ``(merged, error message or None)``."""
    out = [(deep_merge(doc, fields), ts) for doc, ts in generated]
    for doc, _ts in out:
        if not isinstance(doc.get("_id"), str) or not isinstance(doc.get("host"), str):
            return None, "fields must leave _id and host strings"
        signature = doc["alert"].get("signature_id") if isinstance(doc.get("alert"), dict) else None
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in (doc.get("flow_id"), signature)):
            return None, "fields must leave flow_id and alert.signature_id integers"
        if INDEX.get(doc["_id"]) is not None:
            return None, "an alert with _id %r exists already" % doc["_id"]
    return out, None


@admin_view(("POST",))
def add_alerts(request, body):  # pylint: disable=unused-argument
    tasks.advance()
    probe = _probe(body.get("probe"))
    if probe is None:
        return JsonResponse({"detail": "unknown probe %r" % body.get("probe")}, status=400)
    kind = body.get("kind", "normal")
    if kind not in ADD_KINDS:
        return JsonResponse({"detail": "kind must be one of %s" % ", ".join(ADD_KINDS)}, status=400)
    try:
        count = int(body.get("count", 1))
        severity = int(body["severity"]) if body.get("severity") is not None else None
        signature_id = int(body["signature_id"]) if body.get("signature_id") is not None else None
    except (TypeError, ValueError):
        return JsonResponse({"detail": "count, severity and signature_id must be integers"}, status=400)
    if count < 1 or count > 100000:
        return JsonResponse({"detail": "count must be between 1 and 100000"}, status=400)
    encapsulation = body.get("encapsulation")
    if encapsulation is not None and encapsulation not in tunnels.KINDS:
        return JsonResponse({"detail": "encapsulation must be one of %s" % ", ".join(tunnels.KINDS)}, status=400)
    fields = body.get("fields")
    error = _fields_error(fields, count)
    if error:
        return JsonResponse({"detail": error}, status=400)
    with transaction.atomic():
        info = SeedInfo.objects.select_for_update().first()
        SeedInfo.objects.filter(pk=info.pk).update(added_batches=F("added_batches") + 1)
        info.refresh_from_db()
        rng = random.Random("%s:%s" % (info.seed, info.added_batches))
        used = {(d["proto"], d["src_ip"], d["src_port"], d["dest_ip"], d["dest_port"]) for d in INDEX.all_docs() if d["host"] == probe.name}
        now = float(body.get("now") or time.time())
        generated = alertgen.new_alerts_now(rng, probe, runtime.CONFIG, now, count, kind, severity, signature_id, used,
                                            encapsulation)
        if fields is not None:
            generated, error = _merge_fields(generated, fields)
            if error:
                transaction.set_rollback(True)
                return JsonResponse({"detail": error}, status=400)
        Alert.objects.bulk_create([alert_row(doc, ts) for doc, ts in generated], batch_size=500)
    INDEX.add([(doc, alertgen.ts_ms(ts)) for doc, ts in generated])
    return JsonResponse({"alerts": [doc for doc, _ts in generated]}, status=201)


@admin_view(("POST",))
def rename_probe(request, body):  # pylint: disable=unused-argument
    """Give a probe another name (any text, as an SCS admin may type). Its pcap store and its alerts keep the old one."""
    probe = _probe(body.get("probe"))
    name = body.get("name")
    if probe is None:
        return JsonResponse({"detail": "unknown probe %r" % body.get("probe")}, status=400)
    if not isinstance(name, str) or not name or _probe(name) is not None:
        return JsonResponse({"detail": "name must be a new, non-empty probe name"}, status=400)
    Probe.objects.filter(pk=probe.pk).update(name=name)
    return JsonResponse({"appliance_id": probe.appliance_id, "name": name})


def _store(name):
    return pcapstore.PcapStore(pcapstore.store_dir(runtime.CONFIG["data_dir"], name),
                               runtime.CONFIG["pcap_file_size"], runtime.CONFIG["pcap_total_size"])


@admin_view(("POST",))
def rotate(request, body):  # pylint: disable=unused-argument
    probe = _probe(body.get("probe"))
    if probe is None:
        return JsonResponse({"detail": "unknown probe %r" % body.get("probe")}, status=400)
    store = _store(probe.name)
    with store.lock:
        removed = store.rotate(int(body.get("files", 1)))
    return JsonResponse({"removed": [pcapstore.alert_path(n) for n in removed],
                         "remaining": [pcapstore.alert_path(f.name) for f in store.files()]})


@admin_view(("GET", "POST", "DELETE"))
def probe_faults(request, body):
    with runtime.LOCK:
        if request.method == "DELETE":
            runtime.PROBE_FAULTS.clear()
        elif request.method == "POST":
            status = body.get("status", "failed")
            if status not in ("failed", "unreachable", "warning"):
                return JsonResponse({"detail": "status must be failed, unreachable or warning"}, status=400)
            if _probe(body.get("probe")) is None:
                return JsonResponse({"detail": "unknown probe %r" % body.get("probe")}, status=400)
            runtime.PROBE_FAULTS[body["probe"]] = {"status": status, "message": body.get("message") or "",
                                                   "count": int(body.get("count", 1))}
        return JsonResponse({"probe_faults": {k: dict(v) for k, v in runtime.PROBE_FAULTS.items()}},
                            status=201 if request.method == "POST" else 200)


@admin_view(("POST",))
def revoke_task(request, body):  # pylint: disable=unused-argument
    """Revoke a task, as an SCS user would in its task list: {"task": pk}, or the latest task without it."""
    try:
        task = tasks.revoke(body.get("task"))
    except tasks.NotRevocable as exc:
        return JsonResponse({"detail": str(exc)}, status=409)
    return JsonResponse({"pk": task.pk, "status": task.status, "success": task.success, "retry": task.retry})


@admin_view(("GET",))
def expected_pcap(request, body, alert_id):  # pylint: disable=unused-argument
    doc = INDEX.get(alert_id)
    if doc is None:
        return JsonResponse({"detail": "unknown alert %s" % alert_id}, status=404)
    try:
        data = pcapstore.extract_for_alert(pcapstore.store_dir(runtime.CONFIG["data_dir"], doc["host"]), doc)
    except pcapstore.ExtractionError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return HttpResponse(data, content_type="application/octet-stream")


@admin_view(("POST",))
def stage_pcap(request, body):  # pylint: disable=unused-argument
    """Write a valid pcap of exactly `size` bytes as if `filename` had been extracted (on `probe`) and retrieved; with
    `shb_size`, a pcapng whose Section Header Block is that big (a sparse file) instead."""
    filename = body.get("filename")
    if not isinstance(filename, str) or not views_pcap.ALERT_ID_RE.match(filename):
        return JsonResponse({"detail": "filename must match [0-9a-zA-Z_-]+"}, status=400)
    try:
        shb_size = int(body["shb_size"]) if body.get("shb_size") is not None else None
        size = int(body.get("size")) if shb_size is None else 0
    except (TypeError, ValueError):
        return JsonResponse({"detail": "size and shb_size must be integers (bytes)"}, status=400)
    probe = body.get("probe")
    if probe is not None and _probe(probe) is None:
        return JsonResponse({"detail": "unknown probe %r" % probe}, status=400)
    target = views_pcap.scs_pcap_path(filename)
    written = views_pcap.extracted_pcap_path(probe, filename) if probe else target
    for directory in (os.path.dirname(target), os.path.dirname(written)):
        os.makedirs(directory, exist_ok=True)
    if size > shutil.disk_usage(os.path.dirname(written)).free - 64 * 1024 * 1024:
        return JsonResponse({"detail": "not enough free disk space for %d bytes" % size}, status=507)
    started = time.monotonic()
    try:
        if shb_size is None:
            pcapstore.write_synthetic_pcap(written, size)
        else:
            pcapstore.write_big_shb_pcapng(written, shb_size)
    except ValueError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    if written != target:
        # the probe's copy and the retrieved one share the data (hard link): no second write
        tmp = "%s.%s.tmp" % (target, uuid.uuid4().hex)
        os.link(written, tmp)
        os.replace(tmp, target)
    return JsonResponse({"filename": filename, "size": os.path.getsize(target), "probe": probe, "path": target,
                         "seconds": round(time.monotonic() - started, 3)}, status=201)


@admin_view(("GET",))
def state(request, body):  # pylint: disable=unused-argument
    tasks.advance()
    probes = []
    for probe in Probe.objects.select_related("template"):
        store = _store(probe.name)
        probes.append({
            "appliance_id": probe.appliance_id, "name": probe.name, "template": probe.template_id,
            "template_name": probe.template.name if probe.template else None,
            "conditional_pcap": probe.conditional_pcap, "effective_pcap": probe.effective_pcap,
            "applied_pcap": probe.applied_pcap, "pending_changes": probe.pending_changes,
            "capture_threads": probe.capture_threads,
            "store_files": [pcapstore.alert_path(f.name) for f in store.files()],
            "store_bytes": store.total_bytes(),
            "alerts": sum(1 for d in INDEX.all_docs() if d["host"] == probe.name),
        })
    templates = [{"pk": t.pk, "name": t.name, "conditional_pcap": t.conditional_pcap} for t in Template.objects.all()]
    audit = [{"user": a.user.username if a.user else None, "action": a.action, "target": a.target, "comment": a.comment,
              "changes": a.changes, "time": a.time.isoformat()} for a in AuditLog.objects.select_related("user")]
    task_list = [{"pk": t.pk, "status": t.status, "success": t.success, "retry": t.retry,
                  "eta": t.eta.isoformat() if t.eta else None, "will_retry": t.will_retry, "results": t.results}
                 for t in Task.objects.all()]
    info = SeedInfo.objects.first()
    return JsonResponse({"probes": probes, "templates": templates, "audit_log": audit, "tasks": task_list,
                         "alerts": len(INDEX), "seed": info.params if info else None, "config": runtime.CONFIG})


@admin_view(("GET", "POST"))
def config(request, body):
    if request.method == "POST":
        allowed = {"task_delay": float, "task_retry_delay": float, "upload_limit": int, "pcap_file_size": int,
                   "pcap_total_size": int, "extract_other_flow": bool, "open_source_push": bool, "es_keyword": str,
                   "analysed_subfields": bool, "raw_hits": bool, "filestore_corrupt": bool}
        for key, conv in allowed.items():
            if key in body:
                runtime.CONFIG[key] = conv(body[key])
    return JsonResponse(runtime.CONFIG)
