# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/troubleshooting.md is keyed by the error lines of federation_check: it cannot rot.

The error lines are read from the source (``plugins/module_utils/_federation.py`` and, for
"cannot resolve server name ...", ``_resolution.py``; ``_https.py`` for the reasons of
"cannot check ADDR:PORT: ..."): every string that starts an entry of the module's ``errors``
list is turned into a sample line, with its placeholders filled in. Each sample must start with
a pattern of the page's table, each pattern must match some sample (no row for an error that no
longer exists), and each row must link to a section of the page.

Patterns are the backticked texts of the table's first column: ``...`` stands for any text,
``ADDR:PORT`` for an address and port, ``URL`` for a URL; the rest is literal.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
PAGE = ROOT / "docs" / "troubleshooting.md"

#: Functions of _federation.py whose return values are error lines.
RETURNS_ERROR_LINES = {"certificate_error", "_check_client_body", "_check_base_url"}
#: Functions of _federation.py that return the ends of error lines, with the caller's prefix.
RETURNS_LINE_ENDS = {"check_support_file": "support well-known {url}: {error}"}
#: Functions of _federation.py that return strings that are not errors.
RETURNS_OTHER_TEXT = {"_iso", "summarise"}
#: Entries added to ``errors`` that are not string templates, and where their text comes from.
PASS_THROUGH = {
    "str(exc)": "ResolutionError (the 'cannot resolve server name' lines)",
    "connection['error']": "check_connection: certificate_error() or its own errors",
    "self._check_keys(connection, resolution, endpoint, result)": "_check_keys: check_keys() and _get_json()",
    "client_errors": "check_client()",
    "support_errors": "check_support()",
    "self._check_client_body(hops[-1], report)": "_check_client_body()",
    "self._check_base_url(is_url, '/_matrix/identity/v2', 'm.identity_server.base_url', None)": "_check_base_url()",
}

SAMPLE_ENDPOINT = "192.0.2.1:8448"
SAMPLE_URL = "https://example.com/.well-known/matrix/server"


@dataclass(frozen=True)
class Template:
    """An error line with placeholders: ``parts`` are literal strings or ``ast`` expressions."""

    function: str
    parts: tuple

    def text(self) -> str:
        return "".join(part if isinstance(part, str) else "{" + ast.unparse(part) + "}" for part in self.parts)


def _parts(node: ast.expr) -> tuple | None:
    """The literal and placeholder parts of a string expression, or None when it is no template."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, ast.JoinedStr):
        parts: list = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            else:
                parts.append(value.value)  # FormattedValue: the expression
        return tuple(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _parts(node.left), _parts(node.right)
        if left is not None or right is not None:
            return (left or (node.left,)) + (right or (node.right,))
    return None


def _functions(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            yield node


def _own_nodes(function: ast.FunctionDef):
    """The nodes of a function, without those of functions nested in it."""
    stack = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, ast.FunctionDef))


def _string_items(node: ast.expr) -> list | None:
    """Templates of a string expression, a list display of them or a comprehension building them."""
    parts = _parts(node)
    if parts is not None:
        return [parts]
    if isinstance(node, ast.List) and node.elts:
        items = [_parts(element) for element in node.elts]
        return items if all(item is not None for item in items) else None
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        parts = _parts(node.elt)
        return [parts] if parts is not None else None
    return None


@dataclass
class Found:
    templates: list[Template]  # the error-line templates
    pass_through: set[str]  # entries added to `errors` that are not string templates
    returning_text: set[str]  # the functions that return strings


def federation_templates() -> Found:
    """What _federation.py adds to the ``errors`` of federation_check."""
    tree = ast.parse((MODULE_UTILS / "_federation.py").read_text())
    templates: list[Template] = []
    pass_through: set[str] = set()
    returning_text: set[str] = set()
    for function in _functions(tree):
        line_ends = function.name in RETURNS_LINE_ENDS
        for node in _own_nodes(function):
            if isinstance(node, ast.Return) and node.value is not None:
                items = _string_items(node.value)
                if items:
                    returning_text.add(function.name)
                    if function.name in RETURNS_ERROR_LINES:
                        templates += [Template(function.name, parts) for parts in items]
                continue
            if line_ends:
                continue
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("append", "extend")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "errors"
            ):
                argument = node.args[0]
                items = _string_items(argument)
                if items is None:
                    pass_through.add(ast.unparse(argument).replace('"', "'"))
                else:
                    templates += [Template(function.name, parts) for parts in items]
            elif (
                isinstance(node, ast.Assign)
                and any(isinstance(target, ast.Name) and target.id == "errors" for target in node.targets)
                and isinstance(node.value, (ast.List, ast.ListComp))
                and (items := _string_items(node.value))
            ):
                templates += [Template(function.name, parts) for parts in items]
    return Found(templates, pass_through, returning_text)


def _raised_messages(path: Path, exception: str, *, function: str | None = None) -> list[tuple[tuple, dict]]:
    """The message templates of ``raise <exception>(...)`` in a file (or one function of it), with keywords."""
    tree = ast.parse(path.read_text())
    scopes = [f for f in _functions(tree) if f.name == function] if function else [tree]
    found = []
    for scope in scopes:
        for node in ast.walk(scope):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == exception
                and node.args
                and (parts := _parts(node.args[0])) is not None
            ):
                keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
                found.append((parts, keywords))
    return found


def https_reasons() -> list[tuple]:
    """Reasons of "cannot check ADDR:PORT: <reason>": HttpsError messages after "{self.endpoint}: ".

    Certificate failures (kind "certificate") are not among them: check_connection reports them
    through certificate_error()."""
    reasons = []
    for parts, keywords in _raised_messages(MODULE_UTILS / "_https.py", "HttpsError"):
        if keywords.get("kind") == "'certificate'":
            continue
        if len(parts) >= 2 and not isinstance(parts[0], str) and ast.unparse(parts[0]) == "self.endpoint":
            assert isinstance(parts[1], str) and parts[1].startswith(": "), parts
            reasons.append((parts[1][2:], *parts[2:]))
    return reasons


def json_body_reasons() -> list[tuple]:
    """Why a JSON body is refused: the FetchFailure messages of parse_json_object()."""
    return [
        parts
        for parts, _keywords in _raised_messages(
            MODULE_UTILS / "_wellknown.py", "FetchFailure", function="parse_json_object"
        )
    ]


def passed_to(method: str, index: int) -> list[tuple]:
    """The string arguments (literals or module constants) of the calls to a method of _federation.py."""
    tree = ast.parse((MODULE_UTILS / "_federation.py").read_text())
    values = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method:
            argument = node.args[index]
            if isinstance(argument, ast.Name):
                values.append((CONSTANTS[argument.id],))
            else:
                assert isinstance(argument, ast.Constant), ast.unparse(node)
                values.append((argument.value,))
    assert values, method
    return values


def resolution_templates() -> list[tuple]:
    """The lines "cannot resolve server name '...': <step>: <reason>" for every ``fail(step, reason)`` of _resolution.py.

    A step that is a parameter of the function calling fail() (set_targets(targets, step)) is
    every value the callers of that function pass."""
    tree = ast.parse((MODULE_UTILS / "_resolution.py").read_text())
    constants = _string_constants(ast.parse((MODULE_UTILS / "_model.py").read_text()))

    def passed(function: str, index: int) -> list[tuple]:
        """What the callers of a method pass as its parameter ``index`` (``self`` is 0)."""
        values = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == function:
                values.append(_parts(node.args[index - 1]))
        assert values and all(values), f"{function}() is called with a step that is not a string"
        return values

    found = []
    for function in _functions(tree):
        parameters = [argument.arg for argument in function.args.args]
        for node in _own_nodes(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fail"):
                continue
            step, reason = node.args
            if isinstance(step, ast.Name) and step.id in constants:
                steps = [(constants[step.id],)]
            elif isinstance(step, ast.Name) and step.id in parameters:
                steps = passed(function.name, parameters.index(step.id))
            else:
                steps = [_parts(step)]
            assert all(steps), ast.unparse(step)
            for step_parts in steps:
                found.append(
                    ("cannot resolve server name 'example.com': ", *step_parts, ": ", *(_parts(reason) or (reason,)))
                )
    return found


#: Placeholders whose text is one of several known messages: (function, placeholder) -> messages.
def _expansions() -> dict[tuple[str, str], list[tuple]]:
    return {
        ("check_connection", "reason"): https_reasons(),
        ("_get_json", "exc"): json_body_reasons(),
        ("_get_json", "path"): passed_to("_get_json", 1),
        ("_check_base_url", "label"): passed_to("_check_base_url", 2),
        # run() reports the well-known error only when it is this one.
        ("run", "well_known.error"): [("'m.server' is not a valid server name: ", ast.Name("exc"))],
    }


def _fill(parts: tuple, function: str, expansions: dict, used: set) -> list[str]:
    """Every sample text of a template: expanded placeholders, sample values for the others."""
    samples = [""]
    for part in parts:
        if isinstance(part, str):
            choices = [part]
        else:
            expression = ast.unparse(part)
            if (function, expression) in expansions:
                used.add((function, expression))
                choices = [s for sub in expansions[(function, expression)] for s in _fill(sub, function, {}, used)]
            elif "endpoint" in expression:
                choices = [SAMPLE_ENDPOINT]
            elif expression == "key_id":
                choices = ["ed25519:a_SYIh"]
            elif "url" in expression.lower():
                choices = [SAMPLE_URL]
            elif expression in CONSTANTS:
                choices = [CONSTANTS[expression]]
            else:
                choices = ["X"]
        samples = [sample + choice for sample in samples for choice in choices]
    return samples


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """The module's top-level ``NAME = "string"`` assignments."""
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


CONSTANTS = _string_constants(ast.parse((MODULE_UTILS / "_federation.py").read_text()))


def error_samples() -> dict[str, str]:
    """sample error line -> where it comes from."""
    templates = federation_templates().templates
    expansions = _expansions()
    used: set = set()
    samples: dict[str, str] = {}
    for template in templates:
        for sample in _fill(template.parts, template.function, expansions, used):
            samples[sample] = f"_federation.py {template.function}(): {template.text()}"
    for function, wrapper in RETURNS_LINE_ENDS.items():
        samples[wrapper.format(url=SAMPLE_URL, error="X")] = f"_federation.py {function}() via {wrapper}"
    for parts in resolution_templates():
        for sample in _fill(parts, "fail", {}, used):
            samples[sample] = "_resolution.py fail(): " + "".join(p if isinstance(p, str) else "{...}" for p in parts)
    assert used == set(expansions), f"expansions never used: {set(expansions) - used}"
    return samples


@dataclass(frozen=True)
class Row:
    pattern: str
    anchor: str

    @property
    def regex(self) -> re.Pattern:
        tokens = {"...": ".*?", "ADDR:PORT": r"\S+", "URL": r"\S+"}
        pieces = re.split(r"(\.\.\.|ADDR:PORT|URL)", self.pattern)
        return re.compile("".join(tokens.get(piece, re.escape(piece)) for piece in pieces))


def page_rows() -> list[Row]:
    rows = []
    for line in PAGE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("| `") else []
        if not cells:
            continue
        links = re.findall(r"\]\(#([a-z0-9_-]+)\)", cells[-1])
        assert len(links) == 1, f"one link to the fix per row: {line}"
        rows += [Row(pattern, links[0]) for pattern in re.findall(r"`([^`]+)`", cells[0])]
    return rows


def page_anchors() -> set[str]:
    """GitHub's anchors of the page's headings."""
    anchors = set()
    for line in PAGE.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


SAMPLES = error_samples()
ROWS = page_rows()


def test_the_source_has_error_lines_to_check():
    assert len(SAMPLES) > 40, SAMPLES
    assert len(ROWS) > 20, ROWS


def test_every_function_returning_text_is_classified():
    returning_text = federation_templates().returning_text
    unknown = returning_text - RETURNS_ERROR_LINES - set(RETURNS_LINE_ENDS) - RETURNS_OTHER_TEXT
    assert not unknown, f"classify these functions of _federation.py in this test: {unknown}"


def test_every_pass_through_entry_is_known():
    pass_through = federation_templates().pass_through
    assert pass_through == set(PASS_THROUGH), (
        "an entry of `errors` that is not a string literal: say in PASS_THROUGH where its text comes from"
    )


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_error_line_has_a_row(sample):
    matching = [row.pattern for row in ROWS if row.regex.match(sample)]
    assert matching, f"no row of docs/troubleshooting.md starts like {sample!r} ({SAMPLES[sample]})"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.pattern)
def test_every_row_matches_an_error_line(row):
    assert any(row.regex.match(sample) for sample in SAMPLES), (
        f"no error line of federation_check starts like `{row.pattern}`: remove or fix the row"
    )


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.pattern)
def test_every_row_links_to_a_section_of_the_page(row):
    assert row.anchor in page_anchors()


def test_every_section_is_linked_from_the_table():
    sections = page_anchors() - {"troubleshooting-federation", "other-problems"}
    assert sections - {row.anchor for row in ROWS} == set()


def test_the_patterns_are_read_as_prefixes():
    row = Row("keys served by ADDR:PORT expired at ...", "expired-keys")
    assert row.regex.match("keys served by [2001:db8::1]:8448 expired at 2020-01-01T00:00:00Z (valid_until_ts ...")
    assert not row.regex.match("keys served by 192.0.2.1:8448 have no ed25519 verify key")
    assert not row.regex.match("the keys served by 192.0.2.1:8448 expired at 2020")
