"""GET /rest/: the route map (an authenticated ping)."""

from django.conf import settings
from rest_framework.response import Response
from rest_framework.views import APIView

ROUTES = [
    "rules/scirius_context", "rules/es/alerts_tail", "rules/es/alerts_count", "rules/es/events_from_flow_id",
    "rules/filestore_pcap", "rules/system_settings", "appliances/template", "appliances/task",
]


class RootView(APIView):
    def get(self, request):
        probe = "appliances/appliance" if settings.LEGACY_PROBE_PATH else "appliances/probe"
        return Response({name: request.build_absolute_uri("/rest/%s/" % name) for name in sorted(ROUTES + [probe])})
