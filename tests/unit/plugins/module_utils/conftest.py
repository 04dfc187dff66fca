# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by the module_utils tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def closing():
    """``closing(thing)`` returns ``thing`` and calls its ``close()`` after the test."""
    things = []

    def register(thing):
        things.append(thing)
        return thing

    yield register
    for thing in reversed(things):
        thing.close()
