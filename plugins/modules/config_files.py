#!/usr/bin/python
# Copyright (c) 2026, matrixops.delegation contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: config_files
author: matrixops.delegation contributors (@matrixops)
version_added: 0.1.0
short_description: Change a set of files as one transaction - validate, activate, roll back on failure
description:
  - Writes (or removes) several files together, then runs a validation command (such as
    C(nginx -t)) and an activation command (such as C(nginx -s reload)).
  - If validation or activation fails, every file is restored to what it was (content, mode,
    owner, group; files that did not exist are removed again, directories created are removed)
    and, after a failed activation, the activation command runs once more so the service goes
    back to the previous configuration. The task then fails with the command's output.
  - So a bad variable never takes a running web server down, and configuration and served files
    change together.
  - Files whose content is already right are not touched; nothing runs when nothing changed
    (unless O(force_activate=true)).
options:
  files:
    description: Files to write or remove.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content. Required unless O(files[].state=absent).
        type: str
      state:
        description: V(present) writes the file, V(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
      mode:
        description: File mode, as a quoted octal string.
        type: raw
        default: "0644"
      owner:
        description: Owner name; default the current user.
        type: str
      group:
        description: Group name; default the current user's group.
        type: str
  secret_files:
    description:
      - Like O(files), for private keys and other secrets. Their content is never logged nor
        shown in a diff.
    type: list
    default: []
    elements: dict
    suboptions:
      path:
        required: true
        type: path
        description: Absolute path of the secret file.
      content:
        description: The whole content (never logged).
        type: str
      state:
        type: str
        default: present
        choices: [present, absent]
        description: V(present) writes the secret file, V(absent) removes it.
      mode:
        description: File mode.
        type: raw
        default: "0600"
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
  validate:
    description:
      - Command (an argument list) run after the files are written. A non-zero exit rolls back.
    type: list
    elements: str
  activate:
    description:
      - Command (an argument list) that makes the service use the new files. A non-zero exit rolls
        back and runs it again for the old files.
    type: list
    elements: str
  check:
    description:
      - Command (an argument list) run after a successful activation to confirm that the service
        really uses the new files, for example a probe of the addresses it must listen on
        (C(nginx -s reload) exits 0 even when the new configuration cannot bind a port). A non-zero
        exit rolls back like a failed activation.
    type: list
    elements: str
  force_activate:
    description: Run O(validate) and O(activate) even when no file changed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports what would change (with a diff) and writes nothing.
  diff_mode:
    support: full
    description: Shows each changed file, except the content of O(secret_files).
notes:
  - Each file is written atomically (a temporary file in the same directory, then a rename).
seealso:
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Install the well-known site, checked by nginx -t and rolled back on failure
  matrixops.delegation.config_files:
    files:
      - path: /etc/nginx/conf.d/matrix-well-known.conf
        content: "{{ lookup('ansible.builtin.template', 'matrix-well-known.conf.j2') }}"
      - path: /var/www/matrix-well-known/.well-known/matrix/server
        content: "{{ {'m.server': 'matrix.example.com:443'} | to_json }}"
    secret_files:
      - path: /etc/nginx/tls/example.com.key
        content: "{{ vault_tls_key }}"
        mode: "0600"
    validate: [nginx, -t]
    activate: [nginx, -s, reload]
"""

RETURN = r"""
changed_files:
  description: Paths that were (or in check mode would be) written or removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/nginx/conf.d/matrix-well-known.conf]
validate_output:
  description: Output of the validation command (stdout and stderr), when it ran.
  returned: when validation ran
  type: str
  sample: "nginx: configuration file /etc/nginx/nginx.conf test is successful"
rolled_back:
  description: Whether the files were restored after a failure.
  returned: on failure
  type: bool
  sample: true
"""

import contextlib
import grp
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

FILE_SPEC = {
    "path": {"type": "path", "required": True},
    "content": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "mode": {"type": "raw", "default": "0644"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
}


class Transaction:
    def __init__(self, module):
        self.module = module
        self.saved = []  # (path, old bytes or None, stat or None)
        self.created_dirs = []

    def snapshot(self, path):
        if os.path.lexists(path):
            with open(path, "rb") as handle:
                return handle.read(), os.stat(path)
        return None, None

    def _make_parents(self, path):
        missing = []
        parent = os.path.dirname(path)
        while parent and not os.path.isdir(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            os.mkdir(directory, 0o755)
            self.created_dirs.append(directory)

    def write(self, spec, old, old_stat):
        path = spec["path"]
        self.saved.append((path, old, old_stat))
        if spec["state"] == "absent":
            os.unlink(path)
            return
        self._make_parents(path)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(to_bytes(spec["content"]))
            self.module.set_mode_if_different(tmp, spec["mode"], False)
            if spec["owner"] or spec["group"]:
                self.module.set_owner_if_different(tmp, spec["owner"], False)
                self.module.set_group_if_different(tmp, spec["group"], False)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def rollback(self):
        for path, old, old_stat in reversed(self.saved):
            if old is None:
                if os.path.lexists(path):
                    os.unlink(path)
                continue
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=os.path.dirname(path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(old)
            os.chmod(tmp, old_stat.st_mode & 0o7777)
            os.chown(tmp, old_stat.st_uid, old_stat.st_gid)
            os.rename(tmp, path)
        for directory in reversed(self.created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def needs_change(module, spec, old, old_stat):
    if spec["state"] == "absent":
        return old is not None
    if old is None or old != to_bytes(spec["content"]):
        return True
    return _attributes_differ(module, spec, old_stat)


def _attributes_differ(module, spec, old_stat):
    mode = spec["mode"]
    if isinstance(mode, str):
        try:
            mode = int(mode, 8)
        except ValueError:
            module.fail_json(msg=f"{spec['path']}: mode must be an octal string like '0644', got {spec['mode']!r}")
    if (old_stat.st_mode & 0o7777) != mode:
        return True
    if spec["owner"] and pwd.getpwuid(old_stat.st_uid).pw_name != spec["owner"]:
        return True
    return bool(spec["group"] and grp.getgrgid(old_stat.st_gid).gr_name != spec["group"])


def run_command(module, command, label):
    rc, out, err = module.run_command(command)
    output = "\n".join(part for part in (to_native(out).strip(), to_native(err).strip()) if part)
    return rc == 0, f"{label} ({' '.join(command)}) exited {rc}: {output}" if rc else output


def main():
    secret_spec = dict(FILE_SPEC, content={"type": "str", "no_log": True}, mode={"type": "raw", "default": "0600"})
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "default": [], "options": FILE_SPEC},
            "secret_files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": secret_spec,
                "no_log": False,
            },
            "validate": {"type": "list", "elements": "str"},
            "activate": {"type": "list", "elements": "str"},
            "check": {"type": "list", "elements": "str"},
            "force_activate": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    entries = [(spec, False) for spec in module.params["files"]]
    entries += [(spec, True) for spec in module.params["secret_files"]]
    seen = set()
    for spec, _secret in entries:
        if not os.path.isabs(spec["path"]):
            module.fail_json(msg=f"files: path must be absolute, got {spec['path']!r}")
        if spec["path"] in seen:
            module.fail_json(msg=f"files: {spec['path']} is listed twice")
        seen.add(spec["path"])
        if spec["state"] == "present" and spec["content"] is None:
            module.fail_json(msg=f"files: {spec['path']} needs content (or state: absent)")

    changes = []
    diffs = []
    for spec, secret in entries:
        old, old_stat = Transaction(module).snapshot(spec["path"])
        if needs_change(module, spec, old, old_stat):
            changes.append((spec, old, old_stat))
            if secret:
                diffs.append(
                    {
                        "before_header": spec["path"],
                        "after_header": spec["path"],
                        "before": "(secret content hidden)\n" if old is not None else "",
                        "after": "(secret content hidden, changed)\n" if spec["state"] == "present" else "",
                    }
                )
            else:
                diffs.append(
                    {
                        "before_header": spec["path"],
                        "after_header": spec["path"],
                        "before": to_native(old or b"", errors="surrogate_or_replace"),
                        "after": spec["content"] if spec["state"] == "present" else "",
                    }
                )
    result = {"changed": bool(changes), "changed_files": [change[0]["path"] for change in changes], "diff": diffs}
    if module.check_mode or (not changes and not module.params["force_activate"]):
        module.exit_json(**result)

    transaction = Transaction(module)
    failed = {**result, "changed": False, "rolled_back": True}
    try:
        for spec, old, old_stat in changes:
            transaction.write(spec, old, old_stat)
    except OSError as exc:
        transaction.rollback()
        module.fail_json(
            msg=f"writing {exc.filename or 'a file'} failed: {to_native(exc)}; nothing was changed",
            **failed,
        )

    if module.params["validate"]:
        ok, output = run_command(module, module.params["validate"], "validation")
        result["validate_output"] = output
        if not ok:
            transaction.rollback()
            module.fail_json(msg=f"{output}; the previous files were restored", **failed)
    steps = [("activate", "activation"), ("check", "post-activation check")]
    for option, label in steps:
        if not module.params[option]:
            continue
        ok, output = run_command(module, module.params[option], label)
        if not ok:
            transaction.rollback()
            if not module.params["activate"]:
                module.fail_json(msg=f"{output}; the previous files were restored", **failed)
            again, again_output = run_command(module, module.params["activate"], "re-activation")
            tail = (
                "the previous files were restored and re-activated"
                if again
                else f"the previous files were restored but re-activating them failed too: {again_output}"
            )
            module.fail_json(msg=f"{output}; {tail}", **failed)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
