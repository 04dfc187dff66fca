# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hold ADDRESS:PORT with a TLS listener that is not nginx (side_effect.yml of the well_known scenario).

Answers every GET with a JSON body that is not the role's, writes its PID to PID_FILE once it
listens, and stops by itself after LIFETIME seconds (or when killed).
"""

from __future__ import annotations

import argparse
import http.server
import os
import ssl
import threading
from pathlib import Path

BODY = b'{"held": "by a process that is not nginx"}\n'


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("certificate")
    parser.add_argument("key")
    parser.add_argument("pid_file")
    parser.add_argument("lifetime", type=float)
    options = parser.parse_args()
    server = http.server.ThreadingHTTPServer((options.address, options.port), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options.certificate, options.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    Path(options.pid_file).write_text(f"{os.getpid()}\n", encoding="ascii")
    timer = threading.Timer(options.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
