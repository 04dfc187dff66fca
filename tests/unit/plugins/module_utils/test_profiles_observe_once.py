# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Observe once, judge per profile: the one wide fetch gives every profile its own fetch's answer.

For random well-known setups (redirect chains, plain-http hops, statuses, body sizes, ``m.server``
values), each profile resolved alone (fetching with its own limits) must connect where its view
from ``resolve_implementations`` (one fetch with the widest limits, shared by all) says - unless
that view says it could not observe what the profile would do (``unobserved``).
"""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_resolution import FakeDns, FakeHttps, redirect, response

from ansible_collections.matrixops.delegation.plugins.module_utils._model import (
    Clock,
    HttpsError,
    ResolutionError,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._profiles import PROFILES
from ansible_collections.matrixops.delegation.plugins.module_utils._resolution import (
    ProfileOutcome,
    resolve_implementations,
    resolve_server_name,
)

NOW = 1_800_000_000.0
EXAMPLE = "example.com"
WK_PATH = "/.well-known/matrix/server"
ADDRESSES = {EXAMPLE: ["93.184.215.14"], "matrix.example.com": ["151.101.65.1"], "https": []}


class LimitedHttps(FakeHttps):
    """FakeHttps that enforces ``body_limit`` as the real adapter does (a body that reaches it fails)."""

    def get(self, host, port, path, *, addresses, body_limit, deadline):
        answer = super().get(host, port, path, addresses=addresses, body_limit=body_limit, deadline=deadline)
        if len(answer.body) >= body_limit:
            error = HttpsError(f"{host}:{port}: response body is {body_limit} bytes or more", kind="too_large")
            error.status = answer.status
            raise error
        return answer


BODY_SIZES = [0, 100, 8192, 8193, 12287, 12288, 12289, 51199, 51200, 51201, 262144, 262145]
M_SERVERS = ["matrix.example.com:443", "matrix.example.com", "https://matrix.example.com", "", "a b", 7]


@st.composite
def setups(draw):
    hops = draw(st.integers(min_value=0, max_value=22))
    http_at = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=hops)))
    status = draw(st.sampled_from([200, 200, 203, 404, 500]))
    size = draw(st.sampled_from(BODY_SIZES))
    m_server = draw(st.sampled_from(M_SERVERS))
    return hops, http_at, status, size, m_server


def routes(hops, http_at, status, size, m_server):
    table = {}
    path = WK_PATH
    for hop in range(hops):
        if hop == http_at:
            table[(EXAMPLE, 443, path)] = redirect(f"http://{EXAMPLE}/plain", 301)
            return table
        table[(EXAMPLE, 443, path)] = redirect(f"/hop{hop}", 302)
        path = f"/hop{hop}"
    body = {"m.server": m_server, "padding": ""}
    body["padding"] = "x" * max(0, size - len(json.dumps(body).encode()))
    table[(EXAMPLE, 443, path)] = response(status, json.dumps(body).encode(), [("content-type", "application/json")])
    return table


def place(outcome: ProfileOutcome) -> tuple:
    return outcome.comparable()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups())
def test_one_wide_fetch_judges_every_profile_as_its_own_fetch_would(setup):
    table = routes(*setup)
    clock = Clock(wall=lambda: NOW)
    views = resolve_implementations(
        EXAMPLE,
        list(PROFILES.values()),
        dns=FakeDns(addresses=ADDRESSES),
        https=LimitedHttps(table),
        rng=random.Random(0),
        clock=clock,
    )
    for view in views:
        if view.unobserved:
            continue
        try:
            alone = ProfileOutcome(
                view.profile,
                resolve_server_name(
                    EXAMPLE,
                    dns=FakeDns(addresses=ADDRESSES),
                    https=LimitedHttps(table),
                    rng=random.Random(0),
                    clock=clock,
                    profile=view.profile,
                ),
                None,
            )
        except ResolutionError as exc:
            alone = ProfileOutcome(view.profile, None, exc)
        assert place(alone) == place(view), (view.profile.name, setup)
