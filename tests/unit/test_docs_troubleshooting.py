# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/troubleshooting.md is keyed by the error catalogue's codes.

Checked here: the table has one row per code of ``_catalogue.CATALOGUE``, in its order, linking to
the section titled as the catalogue says; every section of the page is one of them; a ``Problem``
refuses an unknown code and ``code_of`` a line without one. Not checked here: the table's "starts
with" column against the lines the code produces (each row must only name some text), nor which
code each problem gets (the unit and integration tests of the resolution and of federation_check
assert those codes).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._catalogue import (
    CATALOGUE,
    Problem,
    code_of,
)

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
TEXT = PAGE.read_text()
ROW = re.compile(r"^\| `(?P<code>[a-z0-9-]+)` \| (?P<starts>.+) \| \[(?P<title>[^\]]+)\]\(#(?P<anchor>[^)]+)\) \|$")
ROWS = [match.groupdict() for match in map(ROW.match, TEXT.splitlines()) if match]
SECTIONS = re.findall(r"^## (.+)$", TEXT, re.MULTILINE)


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def test_the_table_has_one_row_per_code_in_catalogue_order():
    assert [row["code"] for row in ROWS] == list(CATALOGUE)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["code"])
def test_each_row_links_to_the_section_of_its_code(row):
    title = CATALOGUE[row["code"]]
    assert row["title"] == title
    assert row["anchor"] == anchor(title)
    assert title in SECTIONS, f"no section '## {title}' for {row['code']}"
    assert row["starts"].startswith("`"), "name the start of at least one error line"


def test_every_section_belongs_to_a_code():
    assert sorted(SECTIONS) == sorted(CATALOGUE.values())


def test_a_problem_is_its_line_and_knows_its_code():
    problem = Problem("no-address", "no connection to example.com could be checked")
    assert problem == "no connection to example.com could be checked"
    assert not isinstance(str(problem), Problem)
    assert code_of(problem) == "no-address"


def test_an_unknown_code_or_a_line_without_one_is_refused():
    with pytest.raises(ValueError, match="unknown problem code"):
        Problem("no-such-code", "text")
    with pytest.raises(TypeError, match="without a code"):
        code_of("a plain line")
