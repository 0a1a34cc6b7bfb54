# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

# Kept equal to galaxy.yml's version (a unit test checks it); sent in the User-Agent and manifests.
COLLECTION_NAME = "stamus.scs"
COLLECTION_VERSION = "1.0.0"
