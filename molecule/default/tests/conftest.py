# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared values of the end-to-end testinfra tests: the lab inventory's (tests/lab/demo/inventory.yml)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The lab's state directory (verify.yml passes it).
LAB_DIR = Path(os.environ["MATRIXOPS_LAB_DIR"])


@pytest.fixture
def lab_dir() -> Path:
    return LAB_DIR
