"""URL map: the SCS REST API under /rest/ and the emulator admin API under /_emulator/."""

from django.conf import settings
from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from . import views_admin, views_alerts, views_filestore, views_pcap, views_probes, views_root, views_settings

router = SimpleRouter(trailing_slash=True)
router.register("appliances/appliance" if settings.LEGACY_PROBE_PATH else "appliances/probe", views_probes.ProbeViewSet, basename="probe")
router.register("appliances/template", views_probes.TemplateViewSet, basename="template")
router.register("appliances/task", views_probes.TaskViewSet, basename="task")

PCAP = r"^rest/rules/filestore_pcap/(?P<filename>[^/]+)/"
FILESTORE = r"^rest/rules/filestore/(?P<sha256>[0-9a-f]{64})/"

urlpatterns = [
    path("rest/", views_root.RootView.as_view()),
    path("rest/rules/scirius_context/", views_probes.ContextView.as_view()),
    path("rest/suricata/update_push_all/", views_probes.SuricataPushView.as_view()),
    path("rest/rules/system_settings/", views_settings.SystemSettingsView.as_view()),
    path("rest/rules/es/alerts_tail/", views_alerts.AlertsTailView.as_view()),
    path("rest/rules/es/alerts_count/", views_alerts.AlertsCountView.as_view()),
    path("rest/rules/es/events_from_flow_id/", views_alerts.EventsFromFlowIdView.as_view()),
    path("rest/rules/filestore_pcap/upload/", views_pcap.UploadView.as_view()),
    re_path(PCAP + r"extract_pcap/$", views_pcap.ExtractView.as_view()),
    re_path(PCAP + r"status/$", views_pcap.StatusView.as_view()),
    re_path(PCAP + r"retrieve/$", views_pcap.RetrieveView.as_view()),
    re_path(PCAP + r"download/$", views_pcap.DownloadView.as_view()),
    re_path(FILESTORE + r"status/$", views_filestore.FileStatusView.as_view()),
    re_path(FILESTORE + r"retrieve/$", views_filestore.FileRetrieveView.as_view()),
    re_path(FILESTORE + r"download/$", views_filestore.FileDownloadView.as_view()),
    path("rest/", include(router.urls)),
    path("_emulator/health/", views_admin.health),
    path("_emulator/faults/", views_admin.faults),
    path("_emulator/requests/", views_admin.requests_log),
    path("_emulator/alerts/", views_admin.add_alerts),
    path("_emulator/rotate/", views_admin.rotate),
    path("_emulator/rename_probe/", views_admin.rename_probe),
    path("_emulator/probe_faults/", views_admin.probe_faults),
    path("_emulator/revoke_task/", views_admin.revoke_task),
    path("_emulator/expected_pcap/<str:alert_id>/", views_admin.expected_pcap),
    path("_emulator/stage_pcap/", views_admin.stage_pcap),
    path("_emulator/state/", views_admin.state),
    path("_emulator/config/", views_admin.config),
]
