# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What nginx serves, read from the output of ``nginx -T``, and where a new site would collide.

Private module: not part of the collection's public API. Pure: it takes the text that ``nginx -T``
printed (and, optionally, a resolver for host names in ``listen``) and never touches the host.

``nginx -T`` prints every configuration file nginx loaded, each once, after a line
``# configuration file /path:``, in the order nginx first read them. ``include`` directives stay
in the text; this module follows them (glob patterns, relative to the main file's directory) so
that every directive is seen in its context (``http``, ``stream``, ``mail``) and keeps the file
and line it came from. Only ``server`` blocks directly inside ``http`` count.

    servers = server_blocks(dump_text)
    conflicts, notes = find_conflicts(servers, [Wanted("example.com", parse_listen("443"))],
                                      own_files=["/etc/nginx/conf.d/matrix.conf"])
"""

from __future__ import annotations

import fnmatch
import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

__all__ = [
    "Conflict",
    "Directive",
    "Listen",
    "NginxConfigError",
    "Note",
    "ServerBlock",
    "Wanted",
    "find_conflicts",
    "parse_config",
    "parse_listen",
    "server_blocks",
    "split_dump",
]

MARKER = re.compile(r"^# configuration file (?P<path>.+):$")
#: The port of a ``server`` block without ``listen`` when nginx runs as root (8000 otherwise).
DEFAULT_LISTEN_PORT = 80
#: ``include`` depth at which a loop is assumed (nginx itself has no limit but the file count).
MAX_INCLUDE_DEPTH = 50
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}
_LISTEN_FLAGS_DEFAULT = ("default_server", "default")
_DIGITS = re.compile(r"\A[0-9]+\Z")

Resolver = Callable[[str], Sequence[str]]


class NginxConfigError(ValueError):
    """The text cannot be read as nginx configuration (names the file and line)."""


@dataclass(frozen=True)
class Directive:
    """One directive: ``name args...;`` or ``name args... { block }``."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None

    def text(self) -> str:
        """The directive as one line, without its block: ``listen 443 ssl``."""
        return " ".join((self.name, *(_show(arg) for arg in self.args)))


def _show(arg: str) -> str:
    if arg == "" or any(ch in arg for ch in " \t\r\n;{}#\"'\\"):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


# -- the dump --------------------------------------------------------------------------------
def split_dump(text: str) -> list[tuple[str, str]]:
    """``[(path, content)]`` of each file in ``nginx -T`` output, in order.

    Lines before the first marker (nginx's "syntax is ok" when stderr was merged) are dropped;
    the line feed nginx adds after each file is removed again.
    """
    files: list[tuple[str, str]] = []
    path: str | None = None
    lines: list[str] = []
    all_lines = text.split("\n")
    if text.endswith("\n"):
        all_lines.pop()  # after the last line feed: no line
    for line in all_lines:
        match = MARKER.match(line)
        if match:
            if path is not None:
                files.append((path, _file_text(lines)))
            path, lines = match.group("path"), []
        elif path is not None:
            lines.append(line)
    if path is not None:
        files.append((path, _file_text(lines)))
    return files


def _file_text(lines: list[str]) -> str:
    # Each file is followed by the line feed nginx adds, so the lines joined are its text.
    return "\n".join(lines)


# -- tokens ----------------------------------------------------------------------------------
@dataclass
class _Token:
    value: str
    line: int
    special: bool  # one of ; { } outside quotes


def _tokens(text: str, file: str) -> list[_Token]:
    """nginx's tokenizer (ngx_conf_read_token): words, quoted strings, ``;``, ``{``, ``}``, comments."""
    tokens: list[_Token] = []
    i, line, size = 0, 1, len(text)
    while i < size:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch in " \t\r":
            i += 1
        elif ch == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
        elif ch in ";{}":
            tokens.append(_Token(ch, line, True))
            i += 1
        elif ch in "\"'":
            start_line, quote, i = line, ch, i + 1
            out = []
            while True:
                if i >= size:
                    raise NginxConfigError(f"{file} line {start_line}: a quoted string is not closed")
                ch = text[i]
                if ch == "\\" and i + 1 < size:
                    out.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
                    line += text[i + 1] == "\n"
                    i += 2
                    continue
                if ch == quote:
                    i += 1
                    break
                line += ch == "\n"
                out.append(ch)
                i += 1
            tokens.append(_Token("".join(out), start_line, False))
        else:
            start_line = line
            out = []
            variable = False
            while i < size:
                ch = text[i]
                if ch == "{" and variable:  # ${name}
                    out.append(ch)
                    i += 1
                    continue
                variable = False
                if ch == "\\" and i + 1 < size:
                    out.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
                    line += text[i + 1] == "\n"
                    i += 2
                    continue
                if ch in " \t\r\n;{":
                    break
                variable = ch == "$"
                out.append(ch)
                i += 1
            tokens.append(_Token("".join(out), start_line, False))
    return tokens


def parse_config(text: str, file: str) -> tuple[Directive, ...]:
    """The directives of one file (includes not followed)."""
    tokens = _tokens(text, file)
    position = 0

    def block(depth: int, opened_at: int) -> tuple[Directive, ...]:
        nonlocal position
        directives: list[Directive] = []
        words: list[_Token] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if not token.special:
                words.append(token)
                continue
            if token.value == "}":
                if words:
                    raise NginxConfigError(f"{file} line {words[0].line}: '{words[0].value}' has no ';' before '}}'")
                if depth == 0:
                    raise NginxConfigError(f"{file} line {token.line}: unexpected '}}'")
                return tuple(directives)
            if not words:
                raise NginxConfigError(f"{file} line {token.line}: unexpected '{token.value}'")
            name, args = words[0].value, tuple(w.value for w in words[1:])
            inner = block(depth + 1, token.line) if token.value == "{" else None
            directives.append(Directive(name, args, file, words[0].line, inner))
            words = []
        if words:
            raise NginxConfigError(f"{file} line {words[0].line}: '{words[0].value}' has no ';' at the end of the file")
        if depth:
            raise NginxConfigError(f"{file}: the block opened at line {opened_at} is not closed")
        return tuple(directives)

    return block(0, 0)


# -- includes --------------------------------------------------------------------------------
def _glob_match(pattern: str, path: str) -> bool:
    """glob(3) semantics: wildcards never match ``/``; a leading ``.`` is not special in nginx."""
    parts, names = pattern.split("/"), path.split("/")
    return len(parts) == len(names) and all(fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names))


@dataclass
class _Expansion:
    files: dict[str, tuple[Directive, ...]]
    order: list[str]
    prefix: str
    reached: set = field(default_factory=set)

    def included(self, pattern: str) -> list[str]:
        if not pattern.startswith("/"):
            pattern = posixpath.join(self.prefix, pattern)
        pattern = posixpath.normpath(pattern)
        if not any(ch in pattern for ch in "*?["):
            return [name for name in self.order if posixpath.normpath(name) == pattern][:1]
        return sorted(name for name in self.order if _glob_match(pattern, posixpath.normpath(name)))

    def expand(self, directives: Iterable[Directive], depth: int = 0) -> tuple[Directive, ...]:
        out: list[Directive] = []
        for directive in directives:
            if directive.name == "include" and directive.block is None and len(directive.args) == 1:
                if depth >= MAX_INCLUDE_DEPTH:
                    raise NginxConfigError(
                        f"{directive.file} line {directive.line}: includes nested more than {MAX_INCLUDE_DEPTH} deep"
                    )
                for name in self.included(directive.args[0]):
                    self.reached.add(name)
                    out.extend(self.expand(self.files[name], depth + 1))
            elif directive.block is not None:
                inner = self.expand(directive.block, depth)
                out.append(Directive(directive.name, directive.args, directive.file, directive.line, inner))
            else:
                out.append(directive)
        return tuple(out)


def _expansion(text: str) -> tuple[_Expansion, tuple[Directive, ...]]:
    files: dict[str, tuple[Directive, ...]] = {}
    for path, content in split_dump(text):
        files.setdefault(path, parse_config(content, path))
    order = list(files)
    if not order:
        return _Expansion(files, order, "/"), ()
    main = order[0]  # nginx dumps the main file first
    expansion = _Expansion(files, order, posixpath.dirname(main) or "/")
    expansion.reached.add(main)
    return expansion, expansion.expand(files[main])


def expanded_config(text: str) -> tuple[tuple[Directive, ...], list[str]]:
    """The main file's directives with every include replaced by the included files' directives,
    and the files of the dump that no include reached (their directives are not in the tree)."""
    expansion, tree = _expansion(text)
    return tree, [name for name in expansion.order if name not in expansion.reached]


# -- listen ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Listen:
    """One socket a ``server`` block listens on.

    ``family``: ``ipv4``, ``ipv6``, ``unix`` or ``name`` (a host name that was not resolved);
    ``address``: ``*`` for the wildcard of the family, else the address (IPv6 without brackets,
    the path for ``unix``, the host name for ``name``); ``port``: 0 for ``unix``.
    """

    family: str
    address: str
    port: int
    default_server: bool = False
    text: str = ""

    def __str__(self) -> str:
        if self.family == "unix":
            return f"unix:{self.address}"
        if self.family == "ipv6":
            return f"[{'::' if self.address == '*' else self.address}]:{self.port}"
        return f"{self.address}:{self.port}"

    def overlaps(self, other: Listen) -> bool:
        """Whether requests to one of the two sockets can be served by the other's blocks:
        same port and the same address, or one is the wildcard address of the other's family."""
        if self.family == "unix" or other.family == "unix":
            return self.family == other.family and self.address == other.address
        if self.port != other.port:
            return False
        if self.family == "name" or other.family == "name":  # unresolved: assume the worst
            return self.address == other.address or "*" in (self.address, other.address)
        if self.family != other.family:
            return False
        return self.address == other.address or "*" in (self.address, other.address)


def _port(text: str, whole: str) -> int:
    if not _DIGITS.match(text) or not 1 <= int(text) <= 65535:
        raise NginxConfigError(f"listen {whole}: '{text}' is not a port from 1 to 65535")
    return int(text)


def parse_listen(
    value: str,
    flags: Sequence[str] = (),
    *,
    resolve: Resolver | None = None,
    default_port: int = DEFAULT_LISTEN_PORT,
) -> list[Listen]:
    """The sockets of ``listen value flags...`` (nginx's forms, ``unix:`` included).

    ``443``, ``*:443``, ``0.0.0.0:443``, ``127.0.0.1`` (port 80), ``127.0.0.1:443``, ``[::]:443``,
    ``[::1]:8448``, ``localhost:443``, ``unix:/run/x.sock``. A host name gives the addresses
    ``resolve`` returns for it (``localhost``: 127.0.0.1 and ::1 without a resolver); when it
    returns nothing the name is kept. ``ipv6only=off`` on ``[::]`` adds the IPv4 wildcard.
    ``value`` may also carry the flags (``"443 ssl default_server"``).
    """
    words = str(value).split()
    if not words:
        raise NginxConfigError("listen: the address is empty")
    value, flags = words[0], (*words[1:], *flags)
    whole = " ".join((value, *flags))
    default = any(flag in _LISTEN_FLAGS_DEFAULT for flag in flags)

    def make(family: str, address: str, port: int) -> Listen:
        return Listen(family, address, port, default, whole)

    if value.startswith("unix:"):
        return [make("unix", value[len("unix:") :], 0)]
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise NginxConfigError(f"listen {whole}: expected [IPv6 address]:port")
        port = _port(rest[1:], whole) if rest else default_port
        try:
            ipv6 = ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            raise NginxConfigError(f"listen {whole}: '{host}' is not an IPv6 address") from None
        sockets = [make("ipv6", "*" if ipv6.is_unspecified else ipv6.compressed, port)]
        if ipv6.is_unspecified and "ipv6only=off" in flags:
            sockets.append(make("ipv4", "*", port))
        return sockets
    host, sep, port_text = value.rpartition(":")
    if not sep:
        if _DIGITS.match(value):
            return [make("ipv4", "*", _port(value, whole))]
        host, port = value, default_port
    else:
        port = _port(port_text, whole)
    if host in ("*", ""):
        return [make("ipv4", "*", port)]
    try:
        ipv4 = ipaddress.IPv4Address(host)
    except ValueError:
        pass
    else:
        return [make("ipv4", "*" if ipv4.is_unspecified else ipv4.compressed, port)]
    lowered = host.lower()
    found = list(resolve(lowered)) if resolve is not None else (["127.0.0.1", "::1"] if lowered == "localhost" else [])
    result: list[Listen] = []
    for address in found:
        ip = ipaddress.ip_address(address)
        family = "ipv6" if ip.version == 6 else "ipv4"
        listen = make(family, "*" if ip.is_unspecified else ip.compressed, port)
        if listen not in result:
            result.append(listen)
    return result or [make("name", lowered, port)]


# -- server blocks ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Located:
    """A value and the directive it came from."""

    value: str
    file: str
    line: int
    directive: str  # the directive's text, like "listen 443 ssl"


@dataclass(frozen=True)
class ServerBlock:
    """A ``server {}`` block of the ``http`` context."""

    file: str
    line: int
    names: tuple[Located, ...]  # each server_name argument ("" when the block has none)
    listens: tuple[tuple[Listen, Located], ...]  # *:80 when the block has no listen

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "server_names": [name.value for name in self.names],
            "listen": sorted({str(listen) for listen, _where in self.listens}),
        }


def _server(directive: Directive, resolve: Resolver | None, default_port: int, hostname: str) -> ServerBlock:
    names: list[Located] = []
    listens: list[tuple[Listen, Located]] = []
    for inner in directive.block or ():
        if inner.name == "server_name":
            for arg in inner.args:
                value = hostname.lower() if arg == "$hostname" and hostname else arg
                names.append(Located(value, inner.file, inner.line, inner.text()))
        elif inner.name == "listen" and inner.args:
            where = Located(inner.args[0], inner.file, inner.line, inner.text())
            try:
                sockets = parse_listen(inner.args[0], inner.args[1:], resolve=resolve, default_port=default_port)
            except NginxConfigError as exc:
                raise NginxConfigError(f"{inner.file} line {inner.line}: {exc}") from None
            listens += [(listen, where) for listen in sockets]
    if not names:
        names.append(Located("", directive.file, directive.line, 'server_name "" (the default: no server_name)'))
    if not listens:
        where = Located(
            f"*:{default_port}", directive.file, directive.line, f"no listen directive, so *:{default_port}"
        )
        listens.append((Listen("ipv4", "*", default_port, False, where.directive), where))
    return ServerBlock(directive.file, directive.line, tuple(names), tuple(listens))


def server_blocks(
    text: str,
    *,
    resolve: Resolver | None = None,
    default_port: int = DEFAULT_LISTEN_PORT,
    hostname: str = "",
) -> list[ServerBlock]:
    """Every ``server`` block directly in ``http`` of an ``nginx -T`` output.

    ``stream`` and ``mail`` blocks are skipped. Files of the dump that no ``include`` reached
    (which would mean this module followed an include differently from nginx) are read as if
    they were in ``http``, so that a block is never missed. ``hostname`` replaces
    ``$hostname`` in ``server_name``.
    """
    expansion, tree = _expansion(text)
    found: list[ServerBlock] = []
    for directive in tree:
        if directive.name == "http" and directive.block is not None:
            found += [
                _server(inner, resolve, default_port, hostname)
                for inner in directive.block
                if inner.name == "server" and inner.block is not None
            ]
    for path in [name for name in expansion.order if name not in expansion.reached]:
        found += [
            _server(directive, resolve, default_port, hostname)
            for directive in expansion.expand(expansion.files[path])
            if directive.name == "server" and directive.block is not None
        ]
    return found


# -- conflicts -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wanted:
    """A server name the caller is about to serve, on these sockets."""

    server_name: str
    listens: tuple[Listen, ...]


@dataclass(frozen=True)
class Conflict:
    """An existing block that serves exactly ``server_name`` on a socket overlapping ``listen``."""

    server_name: str
    listen: Listen  # the caller's socket
    existing_listen: Listen
    name_at: Located  # the server_name directive
    listen_at: Located  # the listen directive
    block: ServerBlock

    def message(self) -> str:
        listen = f"({self.listen_at.directive}"
        if (self.listen_at.file, self.listen_at.line) != (self.name_at.file, self.name_at.line):
            where = "" if self.listen_at.file == self.name_at.file else f"{self.listen_at.file} "
            listen += f" at {where}line {self.listen_at.line}"
        listen += ")"
        return (
            f"server_name {self.server_name} on {self.listen} is already served by {self.name_at.file} "
            f"line {self.name_at.line} {listen}"
        )

    def to_dict(self) -> dict:
        return {
            "server_name": self.server_name,
            "listen": str(self.listen),
            "file": self.name_at.file,
            "line": self.name_at.line,
            "existing_listen": self.listen_at.directive,
            "listen_file": self.listen_at.file,
            "listen_line": self.listen_at.line,
            "server_file": self.block.file,
            "server_line": self.block.line,
            "message": self.message(),
        }


@dataclass(frozen=True)
class Note:
    """An existing wildcard or regular-expression name that also matches ``server_name``: not a
    conflict (nginx prefers an exact name), but requests it answers today will move."""

    server_name: str
    listen: Listen
    pattern: Located
    listen_at: Located

    def message(self) -> str:
        return (
            f"server_name {self.server_name} on {self.listen} also matches {self.pattern.value} in "
            f"{self.pattern.file} line {self.pattern.line} ({self.listen_at.directive}): nginx prefers the exact "
            f"name, so requests for {self.server_name} will no longer reach that block"
        )


def _normal_name(name: str) -> str:
    return name.lower().rstrip(".") if name not in ("", ".") else name


def name_kind(pattern: str) -> str:
    """``exact``, ``dot`` (``.example.com``: exact and ``*.example.com``), ``head`` (``*.x``),
    ``tail`` (``www.example.*``) or ``regex`` (``~...``)."""
    if pattern.startswith("~"):
        return "regex"
    if pattern.startswith("*."):
        return "head"
    if pattern.endswith(".*"):
        return "tail"
    if pattern.startswith(".") and len(pattern) > 1:
        return "dot"
    return "exact"


def exactly(pattern: str, name: str) -> bool:
    """Whether nginx would treat ``pattern`` and the exact ``name`` as the same name (its
    "conflicting server name" case): equal ignoring case, or ``.name``."""
    pattern, name = _normal_name(pattern), _normal_name(name)
    kind = name_kind(pattern)
    if kind == "exact":
        return pattern == name
    return kind == "dot" and pattern[1:] == name


def loosely(pattern: str, name: str) -> bool:
    """Whether a wildcard or regex ``pattern`` matches ``name`` (case-insensitively)."""
    kind = name_kind(pattern)
    name = _normal_name(name)
    if kind == "regex":
        try:  # PCRE's named groups (?<n>...) and (?'n'...) are (?P<n>...) in Python
            expression = re.sub(r"\(\?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')", r"(?P<\1\2>", pattern[1:])
            return re.search(expression, name, re.IGNORECASE) is not None
        except re.error:
            return False
    pattern = _normal_name(pattern)
    if kind in ("head", "dot"):
        suffix = pattern[1:]  # ".example.com"
        return name.endswith(suffix) and len(name) > len(suffix)
    if kind == "tail":
        prefix = pattern[:-1]  # "www.example."
        return name.startswith(prefix) and len(name) > len(prefix)
    return False


def _own(path: str, own: Sequence[str], realpath: Callable[[str], str] | None) -> bool:
    candidates = {posixpath.normpath(path)}
    if realpath is not None:
        candidates.add(realpath(path))
    return bool(candidates & set(own))


def find_conflicts(
    servers: Iterable[ServerBlock],
    wanted: Iterable[Wanted],
    *,
    own_files: Iterable[str] = (),
    realpath: Callable[[str], str] | None = None,
) -> tuple[list[Conflict], list[Note]]:
    """The existing blocks (outside ``own_files``) that serve a wanted name on an overlapping
    socket: exact names are conflicts, matching wildcards and regexes are notes.

    ``realpath`` (optional, not pure) also compares each file's resolved path with ``own_files``.
    One conflict per wanted name, wanted socket and existing block.
    """
    own: list[str] = []
    for path in own_files:
        own.append(posixpath.normpath(path))
        if realpath is not None:
            own.append(realpath(path))
    conflicts: list[Conflict] = []
    notes: list[Note] = []
    blocks = [block for block in servers if not _own(block.file, own, realpath)]
    for item in wanted:
        for mine in item.listens:
            for block in blocks:
                overlap = next(((theirs, at) for theirs, at in block.listens if mine.overlaps(theirs)), None)
                if overlap is None:
                    continue
                theirs, listen_at = overlap
                exact = next((name for name in block.names if exactly(name.value, item.server_name)), None)
                if exact is not None:
                    conflicts.append(Conflict(item.server_name, mine, theirs, exact, listen_at, block))
                    continue
                loose = next((name for name in block.names if loosely(name.value, item.server_name)), None)
                if loose is not None:
                    notes.append(Note(item.server_name, mine, loose, listen_at))
    return conflicts, notes
