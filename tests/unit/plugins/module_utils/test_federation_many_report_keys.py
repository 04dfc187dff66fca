# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What run_many adds to each name's result for the reports (issue #19): expected_target, seconds."""

from __future__ import annotations

import pytest
from test_federation_checker import MATRIX
from test_federation_many import checker, for_name

from ansible_collections.matrixops.delegation.plugins.module_utils._parallel import ThreadPool


@pytest.fixture
def threads():
    with ThreadPool(4) as pool:
        yield pool


def test_each_result_carries_its_expected_target_and_the_seconds_its_check_took(threads):
    names = {"a.example": f"{MATRIX}:8448", "b.example": None, "boom.example": None}
    outcomes = {name: for_name(name) for name in names}
    outcomes["boom.example"] = RuntimeError("a bug")
    with checker(outcomes, threads) as run:
        report = run.run_many(names)
    assert [result["expected_target"] for result in report["results"]] == [f"{MATRIX}:8448", None, None]
    for result in report["results"]:  # the crashed name too
        assert isinstance(result["seconds"], float)
        assert 0 <= result["seconds"] < 5
