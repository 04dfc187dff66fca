#!/usr/bin/python
# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_conflicts
author: matrixops.delegation contributors (@matrixops)
version_added: 0.1.0
short_description: Find existing nginx server blocks that a new site would shadow
description:
  - Runs C(nginx -T), which prints every configuration file nginx loads (C(conf.d/), C(sites-enabled/),
    snippets, wherever they are included from), and reads every C(server) block of the C(http) context
    with the file and line it comes from. C(stream) and C(mail) blocks are ignored.
  - A block outside O(own_files) that has exactly one of the O(server_blocks[].server_name) values (case
    does not matter; C(.example.com) counts as C(example.com)) and listens on an overlapping address and
    port is a conflict. Addresses overlap when they are equal or one side is the wildcard address of the
    same family (C(443) and C(*:443) overlap C(127.0.0.2:443); IPv4 and IPv6 are separate unless the
    existing block listens on C([::]) with C(ipv6only=off)). A block without C(listen) listens on C(*:80).
  - Adding such a block would take the name away from the existing site (nginx uses the first block it
    loaded and only warns, or the one on the more specific address), so with conflicts the task fails,
    naming each file and line and ending with O(hint), unless O(take_over=true).
  - An existing wildcard (C(*.example.com), C(www.example.*)) or regular expression (C(~...)) name that
    matches is not a conflict, but it is reported in RV(notes) and as a warning, because nginx prefers the
    exact name and those requests will move to the new block.
  - Only reads; never changes anything. When O(binary) does not exist there is nothing to shadow, and the
    module returns no conflicts with RV(nginx_installed=false).
options:
  server_blocks:
    description: The server blocks the caller is about to add.
    type: list
    elements: dict
    required: true
    suboptions:
      server_name:
        description: An exact server name, like C(example.com).
        type: str
        required: true
      listen:
        description:
          - The addresses the block listens on, in nginx's C(listen) forms - C(443), C(*:443),
            C(127.0.0.2:443), C([::]:8448), C([::1]:443), C(localhost:443), C(unix:/run/x.sock).
          - Flags after the address (C(443 ssl)) are allowed and ignored.
        type: list
        elements: str
        required: true
  own_files:
    description:
      - Files of this application (its own configuration files); server blocks in them are not conflicts.
      - Compared both as given and with symbolic links resolved.
    type: list
    elements: path
    default: []
  take_over:
    description:
      - Whether to succeed despite conflicts - the operator chose to take the names over. The conflicts are
        still returned, and each one is a warning.
    type: bool
    default: false
  hint:
    description: Appended to the failure message, to say which variable to use instead (snippet mode, another address).
    type: str
    default: ""
  binary:
    description: The nginx binary.
    type: path
    default: /usr/sbin/nginx
  config:
    description:
      - The main configuration file, passed as C(nginx -T -c CONFIG). By default nginx reads its built-in
        path (C(/etc/nginx/nginx.conf) on Debian).
    type: path
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs the same way in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
notes:
  - Run it with C(become) - C(nginx -T) reads the certificates and keys the configuration names.
  - Host names in C(listen) are resolved on the managed host, as nginx resolves them.
  - A block without C(listen) is taken to listen on C(*:80), which is what nginx does when it is started as root.
seealso:
  - module: matrixops.delegation.config_files
"""

EXAMPLES = r"""
- name: Refuse to shadow an existing site for example.com
  matrixops.delegation.nginx_conflicts:
    server_blocks:
      - server_name: example.com
        listen: ["443", "[::]:443"]
    own_files:
      - /etc/nginx/conf.d/matrix-well-known-example.com.conf
    hint: >-
      set well_known_mode: nginx_snippet and include the snippet in that site,
      or well_known_take_over: true to replace it
  become: true

- name: Take the name over on purpose, but say what is replaced
  matrixops.delegation.nginx_conflicts:
    server_blocks:
      - server_name: matrix.example.com
        listen: ["127.0.0.3:443"]
    take_over: true
  register: taken
"""

RETURN = r"""
nginx_installed:
  description: Whether O(binary) exists. When it does not, nothing else was checked.
  returned: always
  type: bool
  sample: true
conflicts:
  description: The existing blocks that serve one of the names on an overlapping address.
  returned: always
  type: list
  elements: dict
  contains:
    server_name:
      description: The name, as given in O(server_blocks[].server_name).
      type: str
      sample: example.com
    listen:
      description: The address and port of O(server_blocks[].listen) that overlaps, normalised.
      type: str
      sample: "*:443"
    file:
      description: The file with the existing C(server_name) directive.
      type: str
      sample: /etc/nginx/sites-enabled/example.com
    line:
      description: Its line in RV(conflicts[].file).
      type: int
      sample: 12
    existing_listen:
      description: The existing block's C(listen) directive that overlaps.
      type: str
      sample: listen 443 ssl
    listen_file:
      description: The file of that C(listen) directive.
      type: str
    listen_line:
      description: Its line.
      type: int
    server_file:
      description: The file where the existing C(server) block starts.
      type: str
    server_line:
      description: The line where it starts.
      type: int
    message:
      description: The conflict in one sentence.
      type: str
      sample: "server_name example.com on *:443 is already served by /etc/nginx/sites-enabled/example.com line 12 (listen 443 ssl)"
  sample: []
notes:
  description: Existing wildcard or regular-expression names that match one of the names (not conflicts).
  returned: always
  type: list
  elements: str
  sample: []
nginx_warnings:
  description:
    - The warnings C(nginx -T) printed (such as an existing C("conflicting server name")), one per line.
  returned: when nginx is installed
  type: list
  elements: str
  sample: ['nginx: [warn] conflicting server name "example.com" on 0.0.0.0:443, ignored']
servers:
  description: Every C(server) block of the C(http) context that nginx loads.
  returned: when nginx is installed
  type: list
  elements: dict
  contains:
    file:
      description: The file where the block starts.
      type: str
    line:
      description: The line where it starts.
      type: int
    server_names:
      description: Its C(server_name) values (C("") when it has none).
      type: list
      elements: str
    listen:
      description: Its sockets, normalised (C(*:443), C([::]:443), C(127.0.0.2:443), C(unix:/path)).
      type: list
      elements: str
    own:
      description: Whether the block is in O(own_files).
      type: bool
"""

import os
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.matrixops.delegation.plugins.module_utils._nginx_config import (
    NginxConfigError,
    Wanted,
    find_conflicts,
    parse_listen,
    server_blocks,
)

OUTPUT_LIMIT = 4000


def resolve(name):
    """The addresses nginx would bind for a host name in ``listen`` (getaddrinfo, as nginx does)."""
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [info[4][0] for info in infos]


def wanted_blocks(module):
    result = []
    for index, block in enumerate(module.params["server_blocks"]):
        name = block["server_name"]
        if not name:
            module.fail_json(msg=f"server_blocks[{index}].server_name must be a server name, like example.com; got ''")
        if not block["listen"]:
            module.fail_json(msg=f"server_blocks[{index}].listen must list at least one address, like ['443']")
        listens = []
        for value in block["listen"]:
            try:
                listens += parse_listen(value, resolve=resolve)
            except NginxConfigError as exc:
                module.fail_json(
                    msg=f"server_blocks[{index}].listen: {exc}; expected an nginx listen address like 443, "
                    "127.0.0.2:443 or [::]:8448"
                )
        result.append(Wanted(name, tuple(dict.fromkeys(listens))))
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "server_blocks": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "server_name": {"type": "str", "required": True},
                    "listen": {"type": "list", "elements": "str", "required": True},
                },
            },
            "own_files": {"type": "list", "elements": "path", "default": []},
            "take_over": {"type": "bool", "default": False},
            "hint": {"type": "str", "default": ""},
            "binary": {"type": "path", "default": "/usr/sbin/nginx"},
            "config": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    wanted = wanted_blocks(module)
    binary = params["binary"]
    if not os.path.exists(binary):
        module.exit_json(changed=False, nginx_installed=False, conflicts=[], notes=[], servers=[])

    command = [binary, "-T"] + (["-c", params["config"]] if params["config"] else [])
    rc, out, err = module.run_command(command)
    if rc != 0:
        output = (err + out).strip()[-OUTPUT_LIMIT:]
        module.fail_json(
            msg=f"'{' '.join(command)}' failed (exit {rc}), so the existing sites cannot be checked and nothing "
            f"was changed; fix the nginx configuration first: {output}",
            nginx_installed=True,
            rc=rc,
        )
    try:
        servers = server_blocks(out, resolve=resolve, hostname=socket.gethostname())
    except NginxConfigError as exc:
        module.fail_json(
            msg=f"cannot read the output of '{' '.join(command)}': {exc}; nothing was changed",
            nginx_installed=True,
        )
    own_files = params["own_files"]
    conflicts, notes = find_conflicts(servers, wanted, own_files=own_files, realpath=os.path.realpath)
    own_set = {os.path.normpath(path) for path in own_files} | {os.path.realpath(path) for path in own_files}
    result: dict = {
        "changed": False,
        "nginx_installed": True,
        "conflicts": [conflict.to_dict() for conflict in conflicts],
        "notes": [note.message() for note in notes],
        "nginx_warnings": [line.strip() for line in err.splitlines() if "[warn]" in line],
        "servers": [
            dict(block.to_dict(), own=bool({block.file, os.path.realpath(block.file)} & own_set)) for block in servers
        ],
    }
    for note in result["notes"]:
        module.warn(note)
    if conflicts and not params["take_over"]:
        message = "; ".join(conflict.message() for conflict in conflicts)
        if params["hint"]:
            message += f"; {params['hint']}"
        module.fail_json(msg=message, **result)
    for conflict in conflicts:
        module.warn(f"{conflict.message()}: taken over (take_over is true)")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
