"""Database models of the SCS emulator (SQLite)."""

from django.conf import settings
from django.db import models

PCAP_LABEL = "Activate pcap extraction on alerts"


class SeedInfo(models.Model):
    """One row once the data dir was seeded: its parameters, so a restart reuses the data."""

    seed = models.IntegerField()
    now = models.FloatField()
    params = models.JSONField(default=dict)
    added_batches = models.IntegerField(default=0)


class Template(models.Model):
    name = models.CharField(max_length=100, unique=True)
    descr = models.CharField(max_length=400, blank=True, default="")
    conditional_pcap = models.BooleanField(default=False, verbose_name=PCAP_LABEL)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.name


class Probe(models.Model):
    appliance_id = models.AutoField(primary_key=True)
    name = models.CharField(max_length=100, unique=True)
    descr = models.CharField(max_length=400, blank=True, default="")
    address = models.CharField(max_length=100)
    last_seen = models.DateTimeField(null=True)
    suri_running = models.BooleanField(default=True)
    version = models.CharField(max_length=40, default="")
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL, related_name="probes")
    conditional_pcap = models.BooleanField(null=True, blank=True, default=None, verbose_name=PCAP_LABEL)
    pending_changes = models.BooleanField(default=False)
    # Emulator internals (not serialized): the pcap state the probe really runs with, its capture
    # threads and the time zone offset of its EVE timestamps.
    applied_pcap = models.BooleanField(default=False)
    capture_threads = models.IntegerField(default=1)
    tz_offset_min = models.IntegerField(default=0)

    class Meta:
        ordering = ["appliance_id"]

    def __str__(self):
        return self.name

    @property
    def effective_pcap(self):
        if self.conditional_pcap is not None:
            return bool(self.conditional_pcap)
        if self.template is not None:
            return bool(self.template.conditional_pcap)
        return False


class Alert(models.Model):
    """An alert document; `doc` holds the full EVE JSON (with `_id`)."""

    id = models.CharField(max_length=40, primary_key=True)
    host = models.CharField(max_length=100, db_index=True)
    ts_ms = models.BigIntegerField(db_index=True)
    flow_id = models.BigIntegerField(db_index=True)
    signature_id = models.IntegerField(db_index=True)
    doc = models.JSONField()


class Task(models.Model):
    """An apply task, as Scirius's CeleryTask: ``retry`` counts the attempts made, ``eta`` is set when a failed attempt
    will be retried (and, as in Scirius, after the last failed one too), ``success`` defaults to true.

    ``results`` holds one ``{"probe", "status", "message", "retry_no"}`` per probe and attempt.
    """

    STATUS_CHOICES = [(s, s) for s in ("scheduled", "running", "finished", "revoked")]

    status = models.CharField(max_length=20, default="scheduled", choices=STATUS_CHOICES)
    success = models.BooleanField(default=True)
    results = models.JSONField(default=list)
    retry = models.PositiveIntegerField(default=0)
    eta = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # Emulator internals (not serialized): how long an attempt runs, when the current one started (epoch seconds),
    # and whether a retry is due at eta.
    delay = models.FloatField(default=0.5)
    started = models.FloatField(default=0.0)
    will_retry = models.BooleanField(default=False)
    user = models.CharField(max_length=150, default="")

    class Meta:
        ordering = ["pk"]


class AuditLog(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=100)
    target = models.CharField(max_length=200)
    comment = models.TextField(blank=True, default="")
    changes = models.JSONField(default=dict)
    time = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
