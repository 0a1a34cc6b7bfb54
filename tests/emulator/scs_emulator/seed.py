"""Deterministic seeding of a fresh data dir: users, templates, probes, flows, alerts, pcap stores.

Same seed and same arguments give the same probes, templates, alert ids, flow ids and pcap
contents; times are relative to `now` (pin it with --now to get byte-identical pcaps).
"""

import datetime
import random
import secrets

from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.authtoken.models import Token

from . import alertgen, traffic
from .models import Alert, Probe, SeedInfo, Template

SEED_WINDOW = 72 * 3600
TEMPLATE_NAMES = ["perimeter", "datacenter", "branch-offices", "lab"]
SITES = ["Paris HQ", "Lyon DC", "Boston office", "Frankfurt DC", "Singapore office", "Lab"]


def is_seeded():
    return SeedInfo.objects.exists()


def ensure_tokens(admin_token=None, readonly_token=None):
    """Create (or update) the admin and analyst users and their tokens. Returns both keys."""
    admin, _created = User.objects.get_or_create(username="admin", defaults={"is_superuser": True, "is_staff": True})
    analyst, _created = User.objects.get_or_create(username="analyst")
    keys = []
    for user, wanted in ((admin, admin_token), (analyst, readonly_token)):
        token = Token.objects.filter(user=user).first()
        if wanted and (token is None or token.key != wanted):
            Token.objects.filter(user=user).delete()
            token = Token.objects.create(user=user, key=wanted)
        elif token is None:
            token = Token.objects.create(user=user, key=secrets.token_hex(20))
        keys.append(token.key)
    return keys[0], keys[1]


def _template_flag(mode, j):
    if mode == "all":
        return True
    if mode == "none":
        return False
    return j == 0


def _probe_layout(mode, i, templates):
    """(template or None, own flag) of probe i for a pcap mode (see README)."""
    want = {"all": True, "none": False}.get(mode, i % 4 in (0, 2))
    if not templates:
        return None, (want if mode != "mixed" else i % 2 == 0)
    slot = i % 4
    if slot == 0:
        return templates[0], None
    if slot == 1:
        return templates[1 % len(templates)], None
    if slot == 2:
        return templates[1 % len(templates)], want
    return None, want


def seed(params, config):
    """Seed the database and the pcap stores. params: seed, probes, templates, alerts, flows, pcap, now."""
    rng = random.Random(params["seed"])
    now = float(params["now"])
    mode = params["pcap"]
    with transaction.atomic():
        templates = []
        for j in range(params["templates"]):
            name = TEMPLATE_NAMES[j] if j < len(TEMPLATE_NAMES) else "template-%02d" % (j + 1)
            templates.append(Template.objects.create(
                name=name, descr="%s probes" % name.replace("-", " ").capitalize(), conditional_pcap=_template_flag(mode, j)))
        probes = []
        for i in range(params["probes"]):
            template, own = _probe_layout(mode, i, templates)
            probe = Probe(
                appliance_id=i + 1, name="probe-%02d" % (i + 1), descr="Probe %d - %s" % (i + 1, SITES[i % len(SITES)]),
                address="10.10.0.%d" % (10 + i), last_seen=datetime.datetime.fromtimestamp(now - 5 - i, tz=datetime.timezone.utc),
                suri_running=True, version="41.1.0", template=template, conditional_pcap=own,
                capture_threads=2 if i % 2 == 0 else 1, tz_offset_min=alertgen.TZ_OFFSETS_MIN[i % len(alertgen.TZ_OFFSETS_MIN)])
            probe.applied_pcap = probe.effective_pcap
            probe.save()
            probes.append(probe)
        n_flows = min(params["flows"], params["alerts"]) if probes else 0
        starts = sorted(rng.uniform(now - SEED_WINDOW, now - 300) for _i in range(n_flows))
        counts = [1] * n_flows
        for _i in range(max(0, params["alerts"] - n_flows) if n_flows else 0):
            counts[rng.randrange(n_flows)] += 1
        per_probe = {p.appliance_id: [] for p in probes}
        used = set()
        for k, start in enumerate(starts):
            probe = probes[k % len(probes)]
            flow = traffic.make_flow(rng, start, probe.appliance_id % 250, used)
            alerts = [(idx, traffic.pick_signature(rng, flow.app_proto)) for idx in alertgen.pick_alert_packets(rng, flow, counts[k])]
            per_probe[probe.appliance_id].append((flow, alerts))
        rows = []
        for probe in probes:
            for doc, ts in alertgen.alerts_for_flows(rng, probe, per_probe[probe.appliance_id], config):
                rows.append(alert_row(doc, ts))
        Alert.objects.bulk_create(rows, batch_size=500)
        SeedInfo.objects.create(seed=params["seed"], now=now, params=params)


def alert_row(doc, ts):
    return Alert(id=doc["_id"], host=doc["host"], ts_ms=alertgen.ts_ms(ts), flow_id=doc["flow_id"],
                 signature_id=doc["alert"]["signature_id"], doc=doc)
