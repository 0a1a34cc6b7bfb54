"""DRF serializers of Probe Management (the ASSUMED part of the API, see README)."""

from rest_framework import serializers

from .models import PCAP_LABEL, Probe, Task, Template


class ProbeSerializer(serializers.ModelSerializer):
    conditional_pcap = serializers.BooleanField(
        allow_null=True, required=False, label=PCAP_LABEL,
        help_text="Null: inherit the template's value.")
    template = serializers.PrimaryKeyRelatedField(queryset=Template.objects.all(), allow_null=True, required=False)
    comment = serializers.CharField(write_only=True, required=False, allow_blank=True, label="Comment")

    class Meta:
        model = Probe
        fields = ["appliance_id", "name", "descr", "address", "last_seen", "suri_running", "version",
                  "template", "conditional_pcap", "pending_changes", "comment"]
        read_only_fields = ["appliance_id", "name", "last_seen", "suri_running", "version", "pending_changes"]


class TemplateSerializer(serializers.ModelSerializer):
    conditional_pcap = serializers.BooleanField(required=False, label=PCAP_LABEL)
    comment = serializers.CharField(write_only=True, required=False, allow_blank=True, label="Comment")

    class Meta:
        model = Template
        fields = ["pk", "name", "descr", "conditional_pcap", "comment"]
        read_only_fields = ["pk"]


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["pk", "status", "success", "retry", "eta", "results", "created"]
