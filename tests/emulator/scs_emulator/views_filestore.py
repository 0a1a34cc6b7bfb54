"""The filestore steps of extracted files, as Scirius's FilestoreViewSet (suricata/rest_api.py): status, retrieve
and download of ``rules/filestore/<sha256>/``, the file found by its sha256 in FILESTORE_SRC (flowevents.py writes
it). ``?host=`` is accepted and ignored, as in Scirius; a download does not remove the file.

Fault switch: ``filestore_corrupt`` (emulator config) serves every file with its first byte changed, so its bytes no
longer hash to its name.
"""

import os

from django.http import FileResponse, HttpResponse
from rest_framework.response import Response
from rest_framework.views import APIView

from . import flowevents, runtime

DOWNLOAD_BLOCK = 1024 * 1024


def _path(sha256):
    return flowevents.filestore_path(runtime.CONFIG["data_dir"], sha256)


def _unknown(sha256):
    return Response({"detail": "Unknown filename \"%s\"" % sha256}, status=404)


class FileStatusView(APIView):
    def get(self, request, sha256):  # pylint: disable=unused-argument
        return Response({"status": "available" if os.path.isfile(_path(sha256)) else "unknown"})


class FileRetrieveView(APIView):
    def get(self, request, sha256):  # pylint: disable=unused-argument
        return Response({"retrieve": "done"})


class FileDownloadView(APIView):
    def get(self, request, sha256):  # pylint: disable=unused-argument
        try:
            handle = open(_path(sha256), "rb")  # pylint: disable=consider-using-with  # closed by FileResponse
        except FileNotFoundError:
            return _unknown(sha256)
        headers = {"Content-Disposition": "attachment; filename=\"%s.data\"" % sha256}
        if runtime.CONFIG.get("filestore_corrupt"):
            with handle:
                data = bytearray(handle.read())
            if data:
                data[0] ^= 0xFF
            return HttpResponse(bytes(data), content_type="application/octet-stream", headers=headers)
        response = FileResponse(handle, as_attachment=True, filename="%s.data" % sha256,
                                content_type="application/octet-stream")
        response.block_size = DOWNLOAD_BLOCK
        return response
