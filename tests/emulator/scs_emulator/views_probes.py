"""Probe Management: probes, templates, apply tasks (partly ASSUMED API, see README).

Reading is open to every authenticated user; writing (PUT/PATCH, update_push_all) needs a
superuser (the analyst token gets DRF's 403). A PATCH that changes the pcap flag marks the probe
pending; on a template, every probe of that template is marked pending (even those that override
the flag: SCS pushes whole templates). Every write is recorded in the audit log with its comment.
With the `open_source_push` setting, POST /rest/suricata/update_push_all/ answers as open-source
Scirius does (synchronous, no task); without it that route does not exist.
"""

from django.http import Http404
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from . import runtime, tasks
from .models import AuditLog, Probe, Task, Template
from .serializers import ProbeSerializer, TaskSerializer, TemplateSerializer


class ProbeManagementPermission(permissions.BasePermission):
    def has_permission(self, request, view):  # pylint: disable=unused-argument
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(user.is_superuser)


def _audit(request, action_name, target, comment, changes):
    AuditLog.objects.create(user=request.user, action=action_name, target=target, comment=comment or "", changes=changes)


def _comment(request):
    return request.data.get("comment", "") if hasattr(request.data, "get") else ""


class _AdvanceMixin:
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        tasks.advance()


class ProbeViewSet(_AdvanceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                   viewsets.GenericViewSet):
    serializer_class = ProbeSerializer
    permission_classes = [ProbeManagementPermission]
    lookup_field = "appliance_id"
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        qs = Probe.objects.select_related("template").all()
        name = self.request.query_params.get("name")
        if name:
            qs = qs.filter(name=name)
        return qs

    def perform_update(self, serializer):
        probe = serializer.instance
        before = {"conditional_pcap": probe.conditional_pcap, "template": probe.template_id}
        comment = serializer.validated_data.pop("comment", "")
        probe = serializer.save()
        after = {"conditional_pcap": probe.conditional_pcap, "template": probe.template_id}
        changes = {k: [old, after[k]] for k, old in before.items() if old != after[k]}
        if changes and not probe.pending_changes:
            probe.pending_changes = True
            probe.save(update_fields=["pending_changes"])
        _audit(self.request, "probe.update", "probe %s" % probe.name, comment, changes)

    @action(detail=False, methods=["post"])
    def update_push_all(self, request):
        task = tasks.create(request.user)
        _audit(request, "probe.update_push_all", "all probes", _comment(request), {"task_pk": task.pk})
        return Response({"task_pk": task.pk})


class TemplateViewSet(_AdvanceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                      viewsets.GenericViewSet):
    serializer_class = TemplateSerializer
    permission_classes = [ProbeManagementPermission]
    queryset = Template.objects.all()

    def get_queryset(self):
        qs = Template.objects.all()
        name = self.request.query_params.get("name")
        if name:
            qs = qs.filter(name=name)
        return qs

    def perform_update(self, serializer):
        before = serializer.instance.conditional_pcap
        comment = serializer.validated_data.pop("comment", "")
        template = serializer.save()
        changes = {}
        if before != template.conditional_pcap:
            changes["conditional_pcap"] = [before, template.conditional_pcap]
            Probe.objects.filter(template=template).update(pending_changes=True)
        _audit(self.request, "template.update", "template %s" % template.name, comment, changes)


class TaskViewSet(_AdvanceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TaskSerializer
    permission_classes = [ProbeManagementPermission]
    queryset = Task.objects.all()


class SuricataPushView(APIView):
    """Open-source Scirius's POST /rest/suricata/update_push_all/ (suricata/rest_api.py): synchronous,
    {"update_push_all": "ok"} or {"update_push_all": ["Suricata restart already asked"]}."""

    permission_classes = [ProbeManagementPermission]

    def dispatch(self, request, *args, **kwargs):
        if not runtime.CONFIG.get("open_source_push"):
            raise Http404()  # Django's HTML 404, as for any unknown URL
        return super().dispatch(request, *args, **kwargs)

    def post(self, request):
        answer = tasks.push_all_now()
        _audit(request, "suricata.update_push_all", "all probes", _comment(request), {"update_push_all": answer})
        return Response({"update_push_all": answer})


class ContextView(APIView):
    def get(self, request):
        return Response({
            "version": "41.1.0",
            "nb_probes": Probe.objects.count(),
            "probes": list(Probe.objects.values_list("name", flat=True)),
            "title": "Stamus Central Server",
            "tenant": False,
            "user": {"username": request.user.username, "is_superuser": request.user.is_superuser},
        })
