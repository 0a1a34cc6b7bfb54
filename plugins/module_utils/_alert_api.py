# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every name the collection relies on in SCS's alert API, and only here.

Each name says whether the public code of SCS's open-source base (Scirius, StamusNetworks/scirius at 3bb49d38) or of
its web interfaces (the older React UI in the same repository, and StamusNetworks/scout at 25ea32b3) confirms it, and
where; or that it is assumed. docs/api-assumptions.md gathers the same facts for people.
"""

from __future__ import annotations

import re

# -- endpoints ---------------------------------------------------------------------------------------------------

# Confirmed: rules/rest_api.py:3430 (ESAlertsTailViewSet, permission rules.events_view).
ALERTS_PATH = "rules/es/alerts_tail/"
# Confirmed: rules/rest_api.py:3399 (GET is `retrieve`, permission rules.configuration_view or rules.events_view),
# read by scout (src/features/settings/api/settings.api.ts:25) and the older UI (ui/app/config/endpoints.js:15).
SYSTEM_SETTINGS_PATH = "rules/system_settings/"
# Confirmed: rules/rest_api.py:3084 `data['es_keyword'] = ELASTICSEARCH_KEYWORD`, the suffix of the exact (keyword)
# sub-fields of every string field.
ES_KEYWORD_SETTING = "es_keyword"
# Used when es_keyword cannot be read. Confirmed: ELASTICSEARCH_KEYWORD = "raw" in scirius/settings.py:277 (the docker
# build sets "keyword", docker/scirius/scirius/local_settings.py:128), and both UIs filter probes on host.raw
# (ui/app/buildQFilter.js:30, scout use-qf-builder.ts:21). Both sub-fields exist in the docker index template.
DEFAULT_KEYWORD_SUFFIX = "raw"
# es_keyword comes from the server and becomes part of a Lucene field name: nothing but a plain name is used.
KEYWORD_SUFFIX_RE = re.compile(r"[A-Za-z0-9_]{1,64}")  # whole string: fullmatch

# -- alerts_tail query parameters (confirmed: rules/es_query.py, rules/es_graphs.py) -------------------------------

QFILTER = "qfilter"  # appended as " AND <qfilter>" without parentheses (es_query.py:459): callers parenthesise
FROM_DATE = "from_date"  # epoch ms on @timestamp, wins over start_date (es_query.py:268-271)
TO_DATE = "to_date"  # epoch ms, or "now" (es_query.py:286-287); start_date/end_date are the same in seconds
ORDERING = "ordering"  # must match ^-?[0-9a-zA-Z_@.]+, else 400 with a bare JSON string (rest_api.py:2794-2795)
PAGE = "page"  # past the end: 200 with empty results and next null, never 404 (es_query.py:72-110)
PAGE_SIZE = "page_size"
# Without from_date SCS reads the last 30 days; a from_date at or after to_date silently becomes the hour before
# to_date (es_query.py:272-278), so the collection never sends one.
DEFAULT_WINDOW_SECONDS = 30 * 24 * 3600

# The kinds of events alerts_tail returns, each behind a flag (scirius/rest_utils.py:19-33, es_graphs.py:137-155):
# `alert` (default true) for alerts, `stamus` (default false) for Declarations of Compromise (event_type stamus),
# `discovery` (default false) for Sightings (event_type alert with a `discovery` object). A flag is false only for
# "false" or "0"; the collection sends all three, explicitly.
EVENT_KIND_FLAGS = {"alerts": "alert", "doc": "stamus", "sightings": "discovery"}
DEFAULT_EVENT_KINDS = ("alerts",)

# -- event fields ------------------------------------------------------------------------------------------------

# Confirmed: es_query.py:91-93 (flat results with _id since scirius 32999ed7, June 2022; raw hits {_id, _source}
# before, which the collection unwraps).
ID_FIELD = "_id"
SOURCE_FIELD = "_source"
# The probe that saw the event. Assumed to be "host": it is ELASTICSEARCH_HOSTNAME, "host" by default
# (scirius/settings.py:279, local_settings.py:129) but a setting that system_settings does not expose.
HOST_FIELD = "host"
TIMESTAMP_FIELD = "@timestamp"  # ELASTICSEARCH_TIMESTAMP, "@timestamp" by default (settings.py:281); assumed likewise
SIGNATURE_ID_FIELD = "alert.signature_id"  # Suricata EVE
SEVERITY_FIELD = "alert.severity"  # Suricata EVE
FLOW_ID_FIELD = "flow_id"  # Suricata EVE
# Optional: Suricata writes it only while pcap-log has a file (src/output-json-alert.c:837-840); scout hides the pcap
# tab without it (pcap-tab.tsx:8-9).
CAPTURE_FILE_FIELD = "capture_file"
EVENT_TYPE_FIELD = "event_type"
DOC_EVENT_TYPE = "stamus"  # a Declaration of Compromise, with a `stamus` object (scout stamus.schema.ts:25-28)
SIGHTING_FIELD = "discovery"  # a Sighting's object (scout discovery.schema.ts:3-8)


def event_kind(event):
    """``doc``, ``sighting`` or ``alert``: what kind of alerts_tail event ``event`` (a flat dict) is."""
    if event.get(EVENT_TYPE_FIELD) == DOC_EVENT_TYPE:
        return "doc"
    if event.get(SIGHTING_FIELD) is not None:
        return "sighting"
    return "alert"
