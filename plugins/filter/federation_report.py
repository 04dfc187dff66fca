# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Federation reports for machines: ``federation_report`` (the JSON report of federation_check
results, keyed by vantage host), ``federation_junit`` (JUnit XML) and ``federation_metrics``
(Prometheus textfile format). Thin shells over ``module_utils/_report.py``; documented in
``federation_report.yml``, ``federation_junit.yml`` and ``federation_metrics.yml`` beside this file.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.matrixops.delegation.plugins.module_utils._report import (
    ReportError,
    build_report,
    junit_xml,
    prometheus_text,
)


def federation_report(checks: Any, now: Any = None) -> dict:
    if now is not None and (isinstance(now, bool) or not isinstance(now, (int, float))):
        raise AnsibleFilterError(f"federation_report: now must be seconds since the epoch (a number); got {now!r}")
    try:
        return build_report(checks, now=time.time() if now is None else float(now))
    except ReportError as exc:
        raise AnsibleFilterError(f"federation_report: {exc}") from exc


def federation_junit(report: Any) -> str:
    try:
        return junit_xml(report)
    except ReportError as exc:
        raise AnsibleFilterError(f"federation_junit: {exc}") from exc


def federation_metrics(report: Any) -> str:
    try:
        return prometheus_text(report)
    except ReportError as exc:
        raise AnsibleFilterError(f"federation_metrics: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "federation_report": federation_report,
            "federation_junit": federation_junit,
            "federation_metrics": federation_metrics,
        }
