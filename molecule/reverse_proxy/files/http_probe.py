# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One HTTP(S) request, exactly as given, for the reverse_proxy scenario's checks.

Unlike curl or the uri module it connects to an explicit address (no DNS), from an explicit
source address (so Synapse's log can show who asked), sends the path byte for byte (no
normalisation of %2F or dot segments), and reports the TLS session and certificate. It prints
one JSON object and exits 0 whatever happened: the playbook asserts on the fields.

    http_probe.py --connect 127.0.0.3:443 --tls --server-name matrix.example.test --ca ca.pem \\
        --source 127.0.0.77 --path '/_matrix/client/versions' [--header 'X-Forwarded-For: 203.0.113.9']
        [--method POST --content-length 52428801]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import sys

TLS_VERSIONS = {"TLSv1_2": ssl.TLSVersion.TLSv1_2, "TLSv1_3": ssl.TLSVersion.TLSv1_3}


def probe(args: argparse.Namespace) -> dict:
    host, _sep, port = args.connect.rpartition(":")
    result: dict = {"connect": args.connect, "connected": False, "error": None, "tls": None, "status": None}
    try:
        sock = socket.create_connection(
            (host.strip("[]"), int(port)),
            timeout=args.timeout,
            source_address=(args.source, 0) if args.source else None,
        )
    except OSError as exc:
        result["error"] = f"connect: {exc.strerror or exc}"
        return result
    result["connected"] = True
    try:
        if args.tls:
            context = ssl.create_default_context(cafile=args.ca)
            if args.tls_max_version:
                context.maximum_version = TLS_VERSIONS[args.tls_max_version]
            if args.ciphers:  # TLS 1.2 cipher suites to offer (to show that weak ones are refused)
                context.set_ciphers(args.ciphers)
            sock = context.wrap_socket(sock, server_hostname=args.server_name)
            cert = sock.getpeercert() or {}
            result["tls"] = {
                "version": sock.version(),
                "cipher": sock.cipher()[0],
                "subject_alt_names": [value for _kind, value in cert.get("subjectAltName", ())],
            }
        headers = [f"Host: {args.host_header or args.server_name or host}", "User-Agent: matrixops-molecule-probe"]
        if args.content_length is not None:  # announced only: nginx answers 413 before any body
            headers.append(f"Content-Length: {args.content_length}")
        headers += [*args.header, "Connection: close"]
        head = "".join(f"{line}\r\n" for line in [f"{args.method} {args.path} HTTP/1.1", *headers])
        sock.sendall(f"{head}\r\n".encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read().decode("utf-8", "replace")
        result.update(status=response.status, headers=dict(response.getheaders()), body=body)
        try:
            result["json"] = json.loads(body)
        except ValueError:
            result["json"] = None
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        sock.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", required=True, metavar="IP:PORT")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--server-name", help="SNI and certificate name (and Host header unless --host-header)")
    parser.add_argument("--ca", help="CA bundle to trust")
    parser.add_argument("--tls-max-version", choices=sorted(TLS_VERSIONS), help="offer no newer TLS version")
    parser.add_argument("--ciphers", help="OpenSSL cipher list to offer (TLS 1.2 and older)")
    parser.add_argument("--source", help="source IP address")
    parser.add_argument("--host-header")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/", help="sent byte for byte")
    parser.add_argument("--content-length", type=int, help="announce a body of this size (and send none)")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=10.0)
    print(json.dumps(probe(parser.parse_args())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
