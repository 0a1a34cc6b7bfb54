# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Text quoted from a server, made safe to print in a terminal or a log."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL (ESC starts ANSI/OSC sequences, BEL ends OSC ones, CR overwrites a line), plus the
# invisible format characters that reorder or hide text (bidi overrides and isolates, zero-width marks, BOM).
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# Controls that only break lines or move the cursor: a space keeps the words apart.
ELLIPSIS = "..."
SPACING = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")


def _escape(match):
    char = match.group()
    if char in SPACING:
        return " "
    code = ord(char)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def printable(text):
    """``text`` with no control character: line breaks and tabs become spaces, the others (ESC, BEL, C1, bidi
    overrides) a visible escape such as ``\\x1b``, so that nothing a server sends can drive the terminal."""
    return CONTROL_RE.sub(_escape, str(text))


def shortened(text, limit):
    """``text`` cut to at most ``limit`` characters, at the last space when there is one in its second half, with
    "..." marking the cut: a quoted message is not cut mid-word."""
    if len(text) <= limit:
        return text
    kept = text[:limit - len(ELLIPSIS) + 1]  # one more: a space right after the cut is a word boundary too
    space = kept.rfind(" ")
    kept = kept[:space] if space > limit // 2 else kept[:-1]
    return kept.rstrip(" ,;:(") + ELLIPSIS


def printable_tree(value):
    """``value`` (decoded JSON from a server, such as an error body or a task report) with every string, keys
    included, made printable; other values as they are."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_tree(key): printable_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_tree(item) for item in value]
    return value
