"""The pcap extraction steps: upload, extract_pcap, status, retrieve, download.

On disk (data dir): probes/<P>/uploads/<A>.json (alert sent to the probe), probes/<P>/extracted/<A>.pcap
(built by the probe), scs/pcaps/<A>.pcap (copied to SCS by retrieve, deleted once downloaded).
"""

import json
import os
import re
import shutil
import uuid

from django.http import FileResponse
from rest_framework.response import Response
from rest_framework.views import APIView

from . import pcapstore, runtime
from .models import Probe

ALERT_ID_RE = re.compile(r"^[0-9a-zA-Z_-]+$")
DOWNLOAD_BLOCK = 1024 * 1024


def _error(message, status=400):
    return Response({"error": message}, status=status)


def _probe_dir(name, *parts):
    return runtime.path("probes", name, *parts)


def extracted_pcap_path(host, alert_id):
    """Where probe `host` keeps the pcap it extracted for `alert_id`."""
    return _probe_dir(host, "extracted", "%s.pcap" % alert_id)


def scs_pcap_path(alert_id):
    """Where SCS keeps a retrieved pcap until it is downloaded."""
    return runtime.path("scs", "pcaps", "%s.pcap" % alert_id)


def _atomic_write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%s.tmp" % (path, uuid.uuid4().hex)
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _host(request):
    """(probe name, error response)."""
    host = request.query_params.get("host")
    if not host:
        return None, _error("Missing host parameter: the probe to run the action on")
    if not Probe.objects.filter(name=host).exists():
        return None, _error("Unknown probe \"%s\"" % host)
    return host, None


class UploadView(APIView):
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"file": ["This field is required."]}, status=400)
        if upload.size > int(runtime.CONFIG["upload_limit"]):
            return Response({"file": ["json file is too big."]}, status=400)
        data = json.loads(upload.read())  # invalid JSON: unhandled, HTML 500 like SCS
        alert_id = data["_id"]  # no _id: unhandled, HTML 500 like SCS
        if isinstance(data.get("_source"), dict):
            data = dict(data["_source"], _id=alert_id)
        if not isinstance(alert_id, str) or not ALERT_ID_RE.match(alert_id):
            return _error("Invalid alert _id %r: must match [0-9a-zA-Z_-]+" % (alert_id,))
        host, err = _host(request)
        if err:
            return err
        _atomic_write(_probe_dir(host, "uploads", "%s.json" % alert_id), json.dumps(data).encode())
        try:  # a new upload starts a new extraction job for that alert
            os.unlink(_probe_dir(host, "extracted", "%s.pcap" % alert_id))
        except FileNotFoundError:
            pass
        return Response({"upload": "done", "filename": alert_id})


def _check_id(alert_id):
    if not ALERT_ID_RE.match(alert_id):
        return _error("Invalid filename %r" % alert_id)
    return None


class ExtractView(APIView):
    def post(self, request, filename):
        err = _check_id(filename)
        if err:
            return err
        host, err = _host(request)
        if err:
            return err
        uploaded = _probe_dir(host, "uploads", "%s.json" % filename)
        try:
            with open(uploaded, "rb") as fh:
                alert = json.loads(fh.read())
        except FileNotFoundError:
            return _error("No uploaded alert \"%s\" on probe %s: upload it first" % (filename, host))
        try:
            data = pcapstore.extract_for_alert(pcapstore.store_dir(runtime.CONFIG["data_dir"], host), alert)
        except pcapstore.ExtractionError as exc:
            return _error(str(exc))
        if runtime.CONFIG.get("extract_other_flow"):
            data = pcapstore.other_flow_pcap()
        _atomic_write(extracted_pcap_path(host, filename), data)
        return Response({"extraction": "done", "filename": filename})


class StatusView(APIView):
    def get(self, request, filename):
        err = _check_id(filename)
        if err:
            return err
        host, err = _host(request)
        if err:
            return err
        available = os.path.exists(extracted_pcap_path(host, filename))
        return Response({"status": "available" if available else "unknown"})


class RetrieveView(APIView):
    def get(self, request, filename):
        err = _check_id(filename)
        if err:
            return err
        host, err = _host(request)
        if err:
            return err
        src = extracted_pcap_path(host, filename)
        dst = scs_pcap_path(filename)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = "%s.%s.tmp" % (dst, uuid.uuid4().hex)
        try:
            shutil.copyfile(src, tmp)
        except FileNotFoundError:
            return _error("Pcap \"%s\" is not available on probe %s: extract it first" % (filename, host))
        os.replace(tmp, dst)
        return Response({"retrieve": "done"})


def _unknown(filename):
    return Response({"detail": "Unknown filename \"%s.pcap\"" % filename}, status=404)


class DownloadView(APIView):
    """One-shot: the file is claimed (renamed) atomically, then unlinked while it is streamed."""

    def get(self, request, filename):  # pylint: disable=unused-argument
        if not ALERT_ID_RE.match(filename):
            return _unknown(filename)
        path = scs_pcap_path(filename)
        claimed = "%s.serving-%s" % (path, uuid.uuid4().hex)
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return _unknown(filename)
        fh = open(claimed, "rb")  # pylint: disable=consider-using-with  # closed by FileResponse
        os.unlink(claimed)
        response = FileResponse(fh, as_attachment=True, filename="%s.pcap" % filename, content_type="application/octet-stream")
        response.block_size = DOWNLOAD_BLOCK
        return response
