# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/migrate_check.yml against the migration lab world (mig_world.py): real knot, real
TLS homeservers, the playbook in a real ``ansible-playbook`` run, its JSON answer read back.

The expected times are the profiles' cache rules applied by hand to what each name publishes
(docs/implementations.md): the spec takes max-age up to 48 h, Synapse clamps it to [5 min, 48 h],
Conduit takes it as given (no minimum), the conduwuit family keeps a destination 18-36 h whatever
the headers, continuwuity 24 h, Dendrite until the destination fails; without a usable well-known
the spec remembers that for 1 h and Synapse for 1.1 h, and a longer SRV TTL wins over both.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import mig_world as w
import pytest
from support.playbook import ansible_playbook, environment

PLAYBOOK = "matrixops.delegation.migrate_check"
HOUR = 3600
CONDUWUIT_FAMILY = ("conduwuit", "continuwuity-0.5", "tuwunel", "tuwunel-1.0")


@pytest.fixture(scope="module")
def mig(tmp_path_factory: pytest.TempPathFactory):
    with w.running(w.WORLD, tmp_path_factory.mktemp("mig-world")) as world:
        yield world


def run(world: w.World, workdir: Path, *args: str, **extra: object) -> tuple[int, str, dict | None]:
    """The playbook with ``extra`` variables: its rc, its output and the JSON answer it wrote."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / "answer.json"
    variables = {
        "nameservers": [world.nameserver],
        "ca_path": str(world.ca_path),
        "allow_private_addresses": True,
        "timeout": 3,
        "matrix_migrate_report_json": str(report),
        **extra,
    }
    argv = [ansible_playbook(), "-i", "localhost,", *args, PLAYBOOK, "-e", json.dumps(variables)]
    proc = subprocess.run(
        argv, cwd=workdir, env=environment(), capture_output=True, text=True, timeout=300, check=False
    )
    output = proc.stdout + proc.stderr
    answer = json.loads(report.read_text()) if report.exists() else None
    assert not (workdir / "answer.json.tmp").exists(), "the temporary report was left behind"
    return proc.returncode, output, answer


def move(world: w.World, workdir: Path, label: str, *args: str, **extra: object) -> tuple[str, dict]:
    """The playbook for ``<label>.mig.test`` moving from ``old-<label>`` to ``new-<label>``: it passes
    and writes its answer."""
    rc, output, answer = run(
        world,
        workdir,
        *args,
        server_name=w.n(label),
        old_target=w.target(f"old-{label}"),
        new_target=w.target(f"new-{label}"),
        **extra,
    )
    assert rc == 0, output
    assert answer is not None, output
    return output, answer


def times(bounded: dict[str, int], *, dendrite: None = None) -> dict[str, int | None]:
    """Every profile's notice_seconds: ``bounded`` for the spec, Synapse and Conduit, the others fixed."""
    fixed = dict.fromkeys(CONDUWUIT_FAMILY, 36 * HOUR)  # 18-36 h at random: at most 36 h
    return {**bounded, "dendrite": dendrite, **fixed, "continuwuity": 24 * HOUR}


def test_before_the_switch_the_times_are_those_published_now(mig, tmp_path):
    output, answer = move(mig, tmp_path, "before")
    assert answer["published"] == "old"
    # max-age=3600 is inside every clamp; the address TTL (300 s) is shorter
    assert answer["notice_seconds"] == times({"spec": HOUR, "synapse": HOUR, "conduit": HOUR})
    assert set(answer["sees"].values()) == {"old"}
    assert answer["keep_old_seconds"] == 36 * HOUR  # the conduwuit family's 36 h
    assert answer["unbounded"] == ["dendrite"]
    assert any("max-age=3600" in line for line in answer["notice_basis"]["synapse"])
    assert f"Keep the OLD target {w.target('old-before')} serving for at least 129600 s (36.0 h)" in output
    assert "Unbounded: dendrite" in output and "first transport failure" in output


def test_synapse_raises_a_short_max_age_to_five_minutes(mig, tmp_path):
    answer = move(mig, tmp_path, "clamp")[1]
    # max-age=60: the spec and Conduit keep 60 s, Synapse its minimum 5 min; the address TTL (30 s)
    # is shorter than each, and the conduwuit family's 3 h minimum TTL is shorter than its 36 h
    assert answer["notice_seconds"] == times({"spec": 60, "synapse": 300, "conduit": 60})


def test_without_a_well_known_the_srv_ttl_sets_the_time(mig, tmp_path):
    answer = move(mig, tmp_path, "srv")[1]
    assert answer["published"] == "old"
    # no well-known: remembered 1 h (spec, Conduit), 1.1 h (Synapse); the SRV TTL of 2 h is longer
    assert answer["notice_seconds"] == times({"spec": 2 * HOUR, "synapse": 2 * HOUR, "conduit": 2 * HOUR})
    assert any("SRV TTL 2 h" in line for line in answer["notice_basis"]["spec"])


def test_both_targets_published_count_as_before_the_switch_and_check_the_new_one(mig, tmp_path):
    output, answer = move(mig, tmp_path, "both")
    assert answer["published"] == "both"
    assert answer["sees"]["spec"] == "both"
    # no well-known: 1 h (spec, Conduit), 1.1 h (Synapse) are longer than the SRV TTL of 600 s
    assert answer["notice_seconds"] == times({"spec": HOUR, "synapse": int(1.1 * HOUR), "conduit": HOUR})
    assert "Both targets are published" in output
    assert re.search(r"TASK \[Require the new target to work for every implementation[^\n]*\nok: ", output)


def test_after_the_switch_the_old_publication_is_assumed_like_the_new(mig, tmp_path):
    output, answer = move(mig, tmp_path, "after")
    assert answer["published"] == "new"
    assert answer["from_published"] is True
    assert set(answer["sees"].values()) == {"new"}
    assert set(answer["connections_ok"].values()) == {True}
    assert answer["keep_old_seconds"] == 36 * HOUR
    assert "Peers cached the OLD publication" in output
    assert "the switch time is not known (give switched_at)" in output


def test_after_the_switch_a_longer_given_old_cache_time_counts_from_the_switch(mig, tmp_path):
    # 50 h: longer than every bounded implementation's own time (the conduwuit family's 36 h).
    answer = move(mig, tmp_path, "after", old_cache_seconds=50 * HOUR, switched_at="2026-12-03T18:00:00")[1]
    assert answer["from_published"] is False
    assert answer["keep_old_seconds"] == 50 * HOUR
    assert answer["keep_old_until"] == "2026-12-05 20:00:00 UTC"


def test_after_the_switch_a_shorter_given_old_cache_time_never_shortens_a_fixed_cache(mig, tmp_path):
    # 2 h given, but the conduwuit family keeps any answer up to 36 h whatever the headers said.
    answer = move(mig, tmp_path, "after", old_cache_seconds=7200, switched_at="2026-12-03T18:00:00")[1]
    assert answer["keep_old_seconds"] == 36 * HOUR
    assert answer["keep_old_until"] == "2026-12-05 06:00:00 UTC"


def test_after_the_switch_without_a_switch_time_the_answer_has_no_until(mig, tmp_path):
    answer = move(mig, tmp_path, "after")[1]
    assert answer["keep_old_until"] is None


def test_a_name_that_publishes_neither_target_fails_naming_what_it_publishes(mig, tmp_path):
    rc, output, answer = run(
        mig, tmp_path, server_name=w.n("neither"), old_target=w.target("old-after"), new_target=w.target("new-after")
    )
    assert rc != 0
    assert answer is None
    assert f"publishes neither old_target {w.target('old-after')} nor new_target {w.target('new-after')}" in output
    assert w.target("other-neither") in output


def test_a_published_new_target_that_some_implementation_cannot_reach_fails_with_the_fix(mig, tmp_path):
    rc, output, answer = run(
        mig, tmp_path, server_name=w.n("broken"), old_target=w.target("old-broken"), new_target=w.target("new-broken")
    )
    assert rc != 0, output
    assert answer is not None  # the answer is written before the verdict
    assert answer["published"] == "new"
    # D14: only _matrix._tcp is published; conduwuit and tuwunel use the name's own address on the
    # SRV port, tuwunel 1.0 does not ask _matrix._tcp at all: both land where nothing listens
    failing = sorted(name for name, ok in answer["connections_ok"].items() if ok is False)
    assert failing == ["conduwuit", "tuwunel", "tuwunel-1.0"]
    assert sorted({entry["implementation"] for entry in answer["divergent"]}) == failing
    message = next(line for line in output.splitlines() if "does not pass the checks for" in line)
    assert "conduwuit, tuwunel, tuwunel-1.0" in message
    assert "fix: " in message and "serve {" in message


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"old_target": "same.example:8448", "new_target": "SAME.example:8448"}, "both same.example:8448"),
        ({"old_target": "old.example", "new_target": "new.example:443"}, "old_target=old.example,"),
        ({"old_target": "old.example:99999", "new_target": "new.example:443"}, "old_target=old.example:99999,"),
        ({"new_target": "new.example:443"}, "old_target=(not set)"),
        (
            {"old_target": "a.example:443", "new_target": "b.example:443", "switched_at": "yesterday"},
            "switched_at=yesterday.",
        ),
        (
            {"old_target": "a.example:443", "new_target": "b.example:443", "old_cache_seconds": "1 day"},
            "old_cache_seconds=1 day,",
        ),
    ],
    ids=["same", "no-port", "port-range", "missing", "switched-at", "old-cache-seconds"],
)
def test_bad_input_fails_naming_what_was_expected(mig, tmp_path, extra, words):
    rc, output, answer = run(mig, tmp_path, server_name="example.com", **extra)
    assert rc != 0
    assert answer is None
    assert words in output
    assert "Traceback" not in output
    assert "TASK [Check the server name as every implementation" not in output  # stopped before the check


def test_check_mode_gives_the_same_answer(mig, tmp_path):
    answer = move(mig, tmp_path, "before", "--check")[1]
    assert answer["keep_old_seconds"] == 36 * HOUR
