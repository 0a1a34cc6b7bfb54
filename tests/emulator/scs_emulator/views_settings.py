"""GET /rest/rules/system_settings/: Scirius's system settings, with the `es_keyword` the alert filters rely on.

Scirius (rules/rest_api.py SystemSettingsViewSet.retrieve) serializes its SystemSettings model and adds `kibana`,
`evebox`, `es_keyword` (ELASTICSEARCH_KEYWORD: "raw" in its settings.py, "keyword" in its docker build) and
`cyberchef`. The emulator reports the `es_keyword` run-time setting (`--es-keyword`).
"""

from rest_framework.response import Response
from rest_framework.views import APIView

from . import runtime


class SystemSettingsView(APIView):
    def get(self, request):  # pylint: disable=unused-argument
        return Response({
            "id": 1, "use_http_proxy": False, "http_proxy": "", "https_proxy": "", "use_elasticsearch": True,
            "custom_elasticsearch": False, "elasticsearch_url": "http://elasticsearch:9200/", "use_proxy_for_es": False,
            "custom_cookie_age": 8.0, "elasticsearch_user": "", "custom_login_banner": "", "use_arkime": False,
            "use_opensearch": False, "arkime_url": "", "kibana": False, "evebox": False,
            "es_keyword": runtime.CONFIG["es_keyword"], "cyberchef": False,
        })
