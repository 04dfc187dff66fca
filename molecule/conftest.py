# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the testinfra tests of every scenario (molecule/pytest.ini makes this directory their
rootdir and puts it on ``sys.path``): pytest rewrites the asserts of the shared checks, so that
their failures show the values compared, as the tests' own asserts do."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("well_known_files")
