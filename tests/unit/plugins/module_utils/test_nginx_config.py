# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nginx -T reader: files and lines, includes, contexts, listen forms, name conflicts."""

from __future__ import annotations

import textwrap

import pytest

from ansible_collections.matrixops.delegation.plugins.module_utils._nginx_config import (
    Listen,
    NginxConfigError,
    Wanted,
    expanded_config,
    find_conflicts,
    parse_config,
    parse_listen,
    server_blocks,
    split_dump,
)


def dump(*files: tuple[str, str]) -> str:
    """What ``nginx -T`` prints (stdout; the "syntax is ok" lines go to stderr)."""
    out = []
    for path, text in files:
        out.append(f"# configuration file {path}:\n{textwrap.dedent(text).lstrip(chr(10))}\n")
    return "".join(out)


DEBIAN_MAIN = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
\tworker_connections 768;
}

http {
\tinclude /etc/nginx/mime.types;
\tdefault_type application/octet-stream;
\tssl_protocols TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
\tinclude /etc/nginx/conf.d/*.conf;
\tinclude /etc/nginx/sites-enabled/*;
}
"""

OPERATOR_SITE = """\
# The operator's own site (certbot edited it).
server {
    server_name example.com www.example.com;
    root /var/www/example.com;

    listen [::]:443 ssl ipv6only=on; # managed by Certbot
    listen 443 ssl; # managed by Certbot
    ssl_certificate /etc/letsencrypt/live/example.com/fullchain.pem; # managed by Certbot
    ssl_certificate_key /etc/letsencrypt/live/example.com/privkey.pem; # managed by Certbot
    include /etc/letsencrypt/options-ssl-nginx.conf; # managed by Certbot
}

server {
    if ($host = example.com) {
        return 301 https://$host$request_uri;
    } # managed by Certbot
    listen 80 default_server;
    listen [::]:80 default_server;
    server_name example.com;
    return 404; # managed by Certbot
}
"""

OWN = """\
server {
    listen 127.0.0.2:443 ssl;
    server_name example.com;
    location /.well-known/matrix/ { alias /var/lib/matrixops/; }
}
"""

DEBIAN = dump(
    ("/etc/nginx/nginx.conf", DEBIAN_MAIN),
    ("/etc/nginx/modules-enabled/50-mod-stream.conf", "load_module modules/ngx_stream_module.so;\n"),
    ("/etc/nginx/mime.types", "types {\n    text/html html htm shtml;\n}\n"),
    ("/etc/nginx/conf.d/matrix-well-known-example.com.conf", OWN),
    ("/etc/nginx/sites-enabled/example.com", OPERATOR_SITE),
    ("/etc/letsencrypt/options-ssl-nginx.conf", "ssl_session_cache shared:le_nginx_SSL:10m;\n"),
)
SITE = "/etc/nginx/sites-enabled/example.com"
OWN_FILE = "/etc/nginx/conf.d/matrix-well-known-example.com.conf"


def wanted(name: str, *listens: str) -> Wanted:
    return Wanted(name, tuple(socket for listen in listens for socket in parse_listen(listen)))


# -- the dump and the tokens ------------------------------------------------------------------
def test_split_dump_gives_each_file_with_its_own_lines():
    text = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n" + dump(
        ("/a.conf", "one;\ntwo;\n"), ("/b.conf", "three;")
    )
    assert split_dump(text) == [("/a.conf", "one;\ntwo;\n"), ("/b.conf", "three;")]


def test_directives_keep_file_and_line():
    directives = parse_config(OPERATOR_SITE, SITE)
    first, second = directives
    assert (first.name, first.line, second.line) == ("server", 2, 13)
    listen = [d for d in first.block if d.name == "listen"][1]
    assert (listen.args, listen.line, listen.text()) == (("443", "ssl"), 7, "listen 443 ssl")
    condition = second.block[0]
    assert condition.name == "if" and condition.args == ("($host", "=", "example.com)") and condition.line == 14


def test_quotes_comments_escapes_and_variables():
    text = textwrap.dedent(
        r"""
        server {   # a comment with ; { } in it
            server_name "quoted.example.com" 'single.example.com' "" esc\"aped.example.com;
            return 200 "a # is not a comment in quotes; nor is ;
        a line break";
            set $x ${host}suffix;
            add_header X-Test 'it\'s';
            location ~ "^/a{2}$" { return 204; }
            listen 127.0.0.1:80;
        }
        """
    ).lstrip()
    (server,) = parse_config(text, "/q.conf")
    names = server.block[0]
    assert names.args == ("quoted.example.com", "single.example.com", "", 'esc"aped.example.com')
    returned = server.block[1]
    assert returned.args[1] == "a # is not a comment in quotes; nor is ;\na line break"
    assert server.block[2].args == ("$x", "${host}suffix") and server.block[2].line == 5
    assert server.block[3].args == ("X-Test", "it's")
    location = server.block[4]
    assert location.args == ("~", "^/a{2}$") and location.block[0].text() == "return 204"
    assert server.block[5].line == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server {\n listen 80;\n", "/x.conf: the block opened at line 1 is not closed"),
        ("listen 80;\n}\n", "/x.conf line 2: unexpected '}'"),
        ('return 200 "open\n', "/x.conf line 1: a quoted string is not closed"),
        ("server { listen 80 }\n", "/x.conf line 1: 'listen' has no ';' before '}'"),
        ("user root\n", "/x.conf line 1: 'user' has no ';' at the end of the file"),
        (";\n", "/x.conf line 1: unexpected ';'"),
    ],
)
def test_broken_text_names_file_and_line(text, message):
    with pytest.raises(NginxConfigError) as error:
        parse_config(text, "/x.conf")
    assert str(error.value) == message


# -- includes and contexts ----------------------------------------------------------------------
def test_debian_layout_finds_every_http_server_with_its_file_and_line():
    blocks = server_blocks(DEBIAN)
    assert [(b.file, b.line) for b in blocks] == [(OWN_FILE, 1), (SITE, 2), (SITE, 13)]
    assert blocks[1].to_dict() == {
        "file": SITE,
        "line": 2,
        "server_names": ["example.com", "www.example.com"],
        "listen": ["*:443", "[::]:443"],
    }
    assert [str(listen) for listen, _at in blocks[2].listens] == ["*:80", "[::]:80"]
    assert all(listen.default_server for listen, _at in blocks[2].listens)


def test_every_dumped_file_is_reached_through_the_includes():
    tree, unreached = expanded_config(DEBIAN)
    assert unreached == []
    http = next(d for d in tree if d.name == "http")
    assert [d.file for d in http.block if d.name == "server"] == [OWN_FILE, SITE, SITE]
    site = [d for d in http.block if d.name == "server"][1]
    included = [d for d in site.block if d.name == "ssl_session_cache"]
    assert included[0].file == "/etc/letsencrypt/options-ssl-nginx.conf" and included[0].line == 1


def test_relative_includes_follow_the_main_file_and_glob_order():
    text = dump(
        ("/opt/nginx/conf/nginx.conf", "http {\n    include sites/*.conf;\n    include extra.conf;\n}\n"),
        ("/opt/nginx/conf/sites/b.conf", "server { server_name b.example; }\n"),
        ("/opt/nginx/conf/sites/a.conf", "server { server_name a.example; }\n"),
        ("/opt/nginx/conf/sites/deeper/c.conf", "server { server_name c.example; }\n"),
        ("/opt/nginx/conf/extra.conf", "server { server_name d.example; }\n"),
    )
    blocks = server_blocks(text)
    assert [b.names[0].value for b in blocks] == ["a.example", "b.example", "d.example", "c.example"]
    assert blocks[3].file.endswith("deeper/c.conf"), "a file no include reached is still read, as http"


def test_a_file_no_include_reached_still_has_its_snippets_followed():
    text = dump(
        ("/etc/nginx/nginx.conf", "http {\n  include /somewhere/else/*.conf;\n}\n"),
        ("/odd/site.conf", "server {\n  server_name example.com;\n  include snippets/l.conf;\n}\n"),
        ("/etc/nginx/snippets/l.conf", "listen 127.0.0.5:443 ssl;\n"),
    )
    _tree, unreached = expanded_config(text)
    assert unreached == ["/odd/site.conf", "/etc/nginx/snippets/l.conf"]
    (block,) = server_blocks(text)
    assert (block.file, [str(x) for x, _at in block.listens]) == ("/odd/site.conf", ["127.0.0.5:443"])


def test_a_snippet_included_in_two_servers_counts_in_both():
    text = dump(
        ("/etc/nginx/nginx.conf", "http {\n  server { include snippets/l.conf; server_name a.example; }\n"
         "  server { server_name b.example;\n include snippets/l.conf; }\n}\n"),
        ("/etc/nginx/snippets/l.conf", "listen 127.0.0.5:8448 ssl;\n"),
    )  # fmt: skip
    blocks = server_blocks(text)
    assert [[str(x) for x, _at in b.listens] for b in blocks] == [["127.0.0.5:8448"], ["127.0.0.5:8448"]]
    assert {(at.file, at.line) for b in blocks for _x, at in b.listens} == {("/etc/nginx/snippets/l.conf", 1)}


def test_stream_and_mail_servers_are_not_http_servers():
    text = dump(
        (
            "/etc/nginx/nginx.conf",
            "stream {\n  include /etc/nginx/streams-enabled/*;\n  server { listen 443; proxy_pass x; }\n}\n"
            "mail {\n  server { listen 25; server_name example.com; protocol smtp; }\n}\n"
            "http {\n  server { listen 8080; server_name example.com; }\n}\n",
        ),
        ("/etc/nginx/streams-enabled/tls", "server { listen 8448; server_name example.com; }\n"),
    )
    blocks = server_blocks(text)
    assert [(b.line, [str(x) for x, _at in b.listens]) for b in blocks] == [(9, ["*:8080"])]


def test_a_server_without_listen_listens_on_port_80_and_without_name_has_the_empty_name():
    (block,) = server_blocks(dump(("/etc/nginx/nginx.conf", "http {\n  server {\n    root /srv;\n  }\n}\n")))
    assert [str(listen) for listen, _at in block.listens] == ["*:80"]
    assert [name.value for name in block.names] == [""]


def test_hostname_variable_is_replaced():
    text = dump(("/etc/nginx/nginx.conf", "http { server { listen 80; server_name $hostname; } }\n"))
    (block,) = server_blocks(text, hostname="Host1.example.com")
    assert block.names[0].value == "host1.example.com"


def test_an_include_loop_is_refused():
    text = dump(("/etc/nginx/nginx.conf", "include /etc/nginx/nginx.conf;\n"))
    with pytest.raises(NginxConfigError, match="nested more than"):
        server_blocks(text)


# -- listen --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("443", ["*:443"]),
        ("443 ssl", ["*:443"]),
        ("*:443", ["*:443"]),
        ("0.0.0.0:443", ["*:443"]),
        ("*", ["*:80"]),
        ("127.0.0.1", ["127.0.0.1:80"]),
        ("127.0.0.1:443", ["127.0.0.1:443"]),
        ("[::]:443", ["[::]:443"]),
        ("[::]", ["[::]:80"]),
        ("[::1]:8448 ssl http2", ["[::1]:8448"]),
        ("[2001:DB8::0:1]:443", ["[2001:db8::1]:443"]),
        ("[::]:443 ssl ipv6only=off", ["[::]:443", "*:443"]),
        ("localhost:443", ["127.0.0.1:443", "[::1]:443"]),
        ("unix:/run/nginx/matrix.sock", ["unix:/run/nginx/matrix.sock"]),
        ("matrix.example.com:443", ["matrix.example.com:443"]),
    ],
)
def test_listen_forms(value, expected):
    assert [str(listen) for listen in parse_listen(value)] == expected


def test_listen_resolves_host_names_with_the_given_resolver():
    sockets = parse_listen("Web.Example:8448", resolve=lambda name: ["192.0.2.7", "2001:db8::7", "192.0.2.7"])
    assert [str(s) for s in sockets] == ["192.0.2.7:8448", "[2001:db8::7]:8448"]


def test_listen_flags_and_default_server():
    (socket,) = parse_listen("443", ("ssl", "default_server"))
    assert socket.default_server and socket.text == "443 ssl default_server"
    assert not parse_listen("443 ssl")[0].default_server


@pytest.mark.parametrize("value", ["70000", "127.0.0.1:0", "[::1", "[nothex]:443", "[::1]443", ""])
def test_bad_listen_is_refused(value):
    with pytest.raises(NginxConfigError):
        parse_listen(value)


def L(text: str) -> Listen:  # noqa: N802 - reads like a constructor
    (socket,) = parse_listen(text)
    return socket


@pytest.mark.parametrize(
    ("one", "other", "overlap"),
    [
        ("443", "127.0.0.2:443", True),
        ("*:443", "*:443", True),
        ("127.0.0.2:443", "127.0.0.3:443", False),
        ("127.0.0.2:443", "127.0.0.2:8448", False),
        ("[::]:443", "[::1]:443", True),
        ("[::]:443", "127.0.0.2:443", False),
        ("443", "[::1]:443", False),
        ("unix:/a", "unix:/a", True),
        ("unix:/a", "unix:/b", False),
        ("unix:/a", "80", False),
        ("name.example:443", "*:443", True),
        ("name.example:443", "[::]:443", True),
        ("name.example:443", "127.0.0.1:443", False),
    ],
)
def test_overlap(one, other, overlap):
    assert L(one).overlaps(L(other)) is overlap
    assert L(other).overlaps(L(one)) is overlap


# -- conflicts -----------------------------------------------------------------------------------
def test_same_name_on_a_specific_address_conflicts_with_the_wildcard_site():
    conflicts, notes = find_conflicts(
        server_blocks(DEBIAN), [wanted("example.com", "127.0.0.2:443")], own_files=[OWN_FILE]
    )
    assert notes == []
    (conflict,) = conflicts
    assert conflict.message() == (
        f"server_name example.com on 127.0.0.2:443 is already served by {SITE} line 3 (listen 443 ssl at line 7)"
    )
    assert conflict.to_dict()["file"] == SITE and conflict.to_dict()["server_line"] == 2


def test_own_files_are_never_conflicts():
    conflicts, _notes = find_conflicts(
        server_blocks(DEBIAN), [wanted("example.com", "127.0.0.2:443")], own_files=[OWN_FILE, SITE]
    )
    assert conflicts == []
    conflicts, _notes = find_conflicts(server_blocks(DEBIAN), [wanted("example.com", "127.0.0.2:443")])
    assert {c.name_at.file for c in conflicts} == {OWN_FILE, SITE}, "without own_files, its own block conflicts"


def test_own_files_compare_the_resolved_path_too():
    real = {"/etc/nginx/sites-enabled/example.com": "/etc/nginx/sites-available/example.com"}
    conflicts, _notes = find_conflicts(
        server_blocks(DEBIAN),
        [wanted("example.com", "443")],
        own_files=["/etc/nginx/sites-available/example.com"],
        realpath=lambda path: real.get(path, path),
    )
    assert [c.name_at.file for c in conflicts] == [OWN_FILE]


def test_each_family_and_port_separately():
    blocks = server_blocks(DEBIAN)
    conflicts, _notes = find_conflicts(blocks, [wanted("EXAMPLE.com", "[::1]:443", "8448", "80")], own_files=[OWN_FILE])
    assert [(str(c.listen), c.name_at.line, c.listen_at.directive) for c in conflicts] == [
        ("[::1]:443", 3, "listen [::]:443 ssl ipv6only=on"),
        ("*:80", 19, "listen 80 default_server"),
    ]
    assert conflicts[0].server_name == "EXAMPLE.com"


def test_a_name_only_in_another_block_or_not_at_all_is_free():
    blocks = server_blocks(DEBIAN)
    assert find_conflicts(blocks, [wanted("matrix.example.com", "443")], own_files=[OWN_FILE]) == ([], [])
    conflicts, _notes = find_conflicts(blocks, [wanted("www.example.com", "443", "80")], own_files=[OWN_FILE])
    assert [str(c.listen) for c in conflicts] == ["*:443"]


SHAPES = dump(
    (
        "/etc/nginx/nginx.conf",
        """\
        http {
            server { listen 443 ssl; server_name *.example.com; }
            server { listen 443 ssl; server_name ~^(www\\.)?example\\.(com|org)$; }
            server { listen 443 ssl; server_name www.example.*; }
            server { listen 443 ssl; server_name .example.net; }
            server { listen 443 ssl; server_name _ ""; }
            server { listen 443 ssl default_server; server_name catchall.invalid; }
            server { listen 443 ssl; server_name "~(unclosed"; }
        }
        """,
    )
)


@pytest.mark.parametrize(
    ("name", "conflict_lines", "note_lines"),
    [
        ("matrix.example.com", [], [2]),
        ("a.b.example.com", [], [2]),
        ("example.com", [], [3]),
        ("www.example.org", [], [3, 4]),
        ("example.net", [5], []),
        ("matrix.example.net", [], [5]),
        ("example.org", [], [3]),
        ("other.test", [], []),
        ("_", [6], []),
    ],
)
def test_wildcards_and_regexes_are_notes_exact_names_conflicts(name, conflict_lines, note_lines):
    conflicts, notes = find_conflicts(server_blocks(SHAPES), [wanted(name, "127.0.0.2:443")])
    assert [c.name_at.line for c in conflicts] == conflict_lines
    assert [n.pattern.line for n in notes] == note_lines


def test_note_message_names_the_pattern_and_its_place():
    _conflicts, (note,) = find_conflicts(server_blocks(SHAPES), [wanted("matrix.example.com", "443")])
    assert note.message() == (
        "server_name matrix.example.com on *:443 also matches *.example.com in /etc/nginx/nginx.conf line 2 "
        "(listen 443 ssl): nginx prefers the exact name, so requests for matrix.example.com will no longer "
        "reach that block"
    )


def test_listen_in_another_file_is_named_with_its_file():
    text = dump(
        (
            "/etc/nginx/nginx.conf",
            "http {\n  server {\n    server_name example.com;\n    include /etc/nginx/l;\n  }\n}\n",
        ),
        ("/etc/nginx/l", "# listen here\nlisten 127.0.0.2:443 ssl;\n"),
    )
    (conflict,), _notes = find_conflicts(server_blocks(text), [wanted("example.com", "443")])
    assert conflict.message() == (
        "server_name example.com on *:443 is already served by /etc/nginx/nginx.conf line 3 "
        "(listen 127.0.0.2:443 ssl at /etc/nginx/l line 2)"
    )


def test_a_server_without_listen_conflicts_on_port_80():
    text = dump(("/etc/nginx/nginx.conf", "http {\n  server {\n    server_name example.com;\n  }\n}\n"))
    (conflict,), _notes = find_conflicts(server_blocks(text), [wanted("example.com", "127.0.0.9:80")])
    assert conflict.message().endswith("line 3 (no listen directive, so *:80 at line 2)")


# -- more shapes of real dumps --------------------------------------------------------------------
def test_file_without_final_line_feed_and_crlf_lines():
    text = (
        "# configuration file /etc/nginx/nginx.conf:\r\n"[:-2]
        + "\nhttp {\r\n    include /etc/nginx/conf.d/*.conf;\r\n}"
        + "\n# configuration file /etc/nginx/conf.d/a.conf:\n"
        + "server {\r\n\tlisten 127.0.0.2:443 ssl;\r\n\tserver_name\r\n\t\texample.com;\r\n}\n"
    )
    (block,) = server_blocks(text)
    assert (block.file, block.line, block.names[0].line, block.names[0].value) == (
        "/etc/nginx/conf.d/a.conf",
        1,
        3,
        "example.com",
    )


def test_upstream_map_and_location_blocks_are_not_servers():
    text = dump(
        (
            "/etc/nginx/nginx.conf",
            """\
            http {
                upstream synapse { server 127.0.0.1:8008; server unix:/run/s.sock backup; }
                map $http_upgrade $connection_upgrade { default upgrade; '' close; "~*a{2}" x; }
                include "/etc/nginx/sites-enabled/*";
                server {
                    listen 127.0.0.3:443 ssl;
                    server_name matrix.example.com;
                    location /_matrix { proxy_pass http://synapse; }
                    location ~* "^/(?<x>[a-z]{3})$" { return 204; }
                }
            }
            """,
        ),
        ("/etc/nginx/sites-enabled/b", "server { listen 127.0.0.3:8448 ssl; server_name matrix.example.com; }\n"),
    )
    blocks = server_blocks(text)
    assert [(b.file, b.line) for b in blocks] == [("/etc/nginx/sites-enabled/b", 1), ("/etc/nginx/nginx.conf", 5)]


def test_pcre_named_groups_in_a_server_name_regex_are_understood():
    text = dump(
        ("/etc/nginx/nginx.conf", "http { server { listen 443; server_name ~^(?<sub>.+)\\.example\\.com$; } }\n")
    )
    _conflicts, notes = find_conflicts(server_blocks(text), [wanted("matrix.example.com", "443")])
    assert [n.pattern.value for n in notes] == ["~^(?<sub>.+)\\.example\\.com$"]
    _conflicts, notes = find_conflicts(server_blocks(text), [wanted("example.com", "443")])
    assert notes == []
