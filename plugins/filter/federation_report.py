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
    Policy,
    ReportError,
    build_report,
    junit_xml,
    parse_networks,
    prometheus_text,
)


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def federation_report(
    checks: Any,
    now: Any = None,
    certificate_expiry_days: Any = None,
    certificate_expiry_error: Any = False,
    platform_networks: Any = None,
) -> dict:
    if now is not None and not _number(now):
        raise AnsibleFilterError(f"federation_report: now must be seconds since the epoch (a number); got {now!r}")
    if certificate_expiry_days is not None and not (_number(certificate_expiry_days) and certificate_expiry_days >= 0):
        raise AnsibleFilterError(
            f"federation_report: certificate_expiry_days must be a number of days (0 or more); got {certificate_expiry_days!r}"
        )
    if not isinstance(certificate_expiry_error, bool):
        raise AnsibleFilterError(
            f"federation_report: certificate_expiry_error must be true or false; got {certificate_expiry_error!r}"
        )
    try:
        policy = Policy(
            expiry_days=None if certificate_expiry_days is None else int(certificate_expiry_days),
            expiry_error=certificate_expiry_error,
            networks=parse_networks(platform_networks),
        )
        return build_report(checks, now=time.time() if now is None else float(now), policy=policy)
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
