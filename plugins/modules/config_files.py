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
  validate_fail_on:
    description:
      - Regular expressions searched in the output (stdout and stderr) of O(validate). A match fails
        the validation (and rolls back) even when the command exits 0, for example
        V(conflicting server name) for C(nginx -t), which only warns about a shadowed site.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  release:
    description:
      - A versioned directory switched atomically. Its files are written to
        C(<base>/<id>/<path>) with a marker file C(<base>/<id>/.matrixops-release), where C(<id>)
        is the filter P(matrixops.delegation.release_id#filter) of O(release.files) (so a template can
        name the directory before the module runs, for example for an nginx C(alias)).
      - The directory is built whole under a temporary name and renamed in. With O(release.link),
        the symlink O(release.link) is switched to it by one rename. After a successful run every
        other directory of O(release.base) that carries the marker is removed (never anything
        without it).
    type: dict
    version_added: 0.2.0
    suboptions:
      base:
        description: Absolute path of the directory holding the releases.
        type: path
        required: true
      files:
        description: The files of the release.
        type: list
        elements: dict
        required: true
        suboptions:
          path:
            description: Path relative to the release directory (normalized, no C(..)).
            type: str
            required: true
          content:
            description: The whole content.
            type: str
            required: true
          mode:
            description: File mode, as a quoted octal string.
            type: raw
            default: "0644"
      link:
        description:
          - Absolute path of a symlink switched to the release directory by one rename(2).
          - A real directory there (the layout of version 0.1.0) is replaced, and removed after the
            commit, only when it holds nothing but files named in O(release.files); otherwise the
            task fails naming the other files.
        type: path
      owner:
        description: Owner of the release's directories and files.
        type: str
      group:
        description: Group of the release's directories and files.
        type: str
  check_served:
    description:
      - After the activation, what the service must serve. Each entry is requested with SNI and
        C(Host) set to its O(check_served[].server_name), retried until O(check_timeout). The
        certificate is not verified (this proves which configuration answers, not trust).
      - Every entry is checked within the one O(check_timeout) (each at least once), and every
        failing entry is named.
      - A failure rolls back, activates the old files again, and fails naming, for each failing
        entry, the address and port, what was seen, and which process holds that port.
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
    suboptions:
      address:
        description: IP address to connect to.
        type: str
        required: true
      port:
        description: TCP port; default 443 with TLS, 80 without.
        type: int
      server_name:
        description: Name sent as SNI and C(Host).
        type: str
        required: true
      path:
        description: Request path.
        type: str
        default: /
      tls:
        description: Whether to speak TLS.
        type: bool
        default: true
      status:
        description: Expected HTTP status.
        type: int
        default: 200
      body:
        description: Expected body, exactly.
        type: str
      body_contains:
        description: A string the body must contain.
        type: str
  check_timeout:
    description: Seconds each O(check_served) entry is retried before it counts as failed.
    type: float
    default: 10
    version_added: 0.2.0
  lock:
    description:
      - Name of the host-wide lock held for the whole run, so that two runs with the same name run
        one after the other instead of interleaving. The roles use V(nginx) for every nginx
        transaction and V(synapse) for Synapse fragments.
      - The lock is a C(flock) on C(/run/lock/matrixops-delegation/<lock>.lock) (C(/tmp) when
        C(/run/lock) is missing), holding the holder's PID. The kernel releases it when its holder
        dies, so a killed run never blocks the next one.
      - Default a name derived from the sorted target paths.
    type: str
    version_added: 0.2.0
  lock_timeout:
    description: Seconds to wait for O(lock) before failing with the holder's PID.
    type: int
    default: 600
    version_added: 0.2.0
  state_dir:
    description:
      - Directory of the transaction journal C(<state_dir>/transactions/<lock>.json), written
        (and fsync'd) before the first change and removed at the end. A run that finds the
        journal of an interrupted run (killed, or its host rebooted) restores the previous files
        first, runs that run's O(validate) and O(activate) again, and reports it in RV(recovered).
    type: path
    default: /var/lib/matrixops-delegation
    version_added: 0.2.0
attributes:
  check_mode:
    support: full
    description: Reports what would change (with a diff) and writes nothing.
  diff_mode:
    support: full
    description: Shows each changed file, except the content of O(secret_files).
notes:
  - "Every new content is first written to a temporary file beside its target (the only step
    that needs free space); then each old file is kept under a backup name (a hard link) and the
    new one renamed in. A failure restores by renaming back, so it needs no free space, and removes
    only what the run created. No temporary or backup file remains."
  - "What is atomic: each file (one rename), a O(release) with O(release.link) (one rename of the
    symlink), and whatever one O(activate) switches (a reload). Several plain files are not switched
    together: a reader can see some new and some old between two renames; use O(release) for files
    that must change together."
  - "Test only: the environment variable C(MATRIXOPS_CONFIG_FILES_FAULT=<step>) (or C(<step>:<n>)
    for its n-th time) makes the module kill itself with SIGKILL at that step; the steps are listed
    in the collection's docs/architecture.md."
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

- name: Serve documents from a release switched by one symlink rename
  matrixops.delegation.config_files:
    release:
      base: /var/www/matrix-well-known/releases
      link: /var/www/matrix-well-known/.well-known/matrix
      files:
        - path: server
          content: "{{ {'m.server': 'matrix.example.com:443'} | to_json }}"
    lock: nginx
    check_served:
      - address: 127.0.0.1
        server_name: example.com
        path: /.well-known/matrix/server
        body_contains: matrix.example.com
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
recovered:
  description:
    - The interrupted transaction this run restored before doing anything else (empty when there
      was none).
  returned: always
  type: dict
  sample:
    journal: /var/lib/matrixops-delegation/transactions/nginx.json
    restored: [/etc/nginx/conf.d/matrix-well-known.conf]
    message: "restored the files of an interrupted run (PID 4242, started 2026-12-03T10:00:00Z)"
release_dir:
  description: The release directory.
  returned: when O(release) is given
  type: str
  sample: /var/www/matrix-well-known/releases/4f2a9c0d1e2b3a45
release_id:
  description: The release id (the P(matrixops.delegation.release_id#filter) of O(release.files)).
  returned: when O(release) is given
  type: str
  sample: 4f2a9c0d1e2b3a45
lock_waited:
  description: Seconds this run waited for O(lock).
  returned: always
  type: float
  sample: 0.0
"""


import grp
import hashlib
import os
import pwd
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.matrixops.delegation.plugins.module_utils._release import (
    plan_release,
    release_problems,
    write_release,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._served import verify_all
from ansible_collections.matrixops.delegation.plugins.module_utils._transaction import (
    Transaction,
    TransactionError,
    describe_os_error,
    fault,
    load_journal,
    normalize_mode,
)
from ansible_collections.matrixops.delegation.plugins.module_utils._txlock import HostLock, LockError

FILE_SPEC = {
    "path": {"type": "path", "required": True},
    "content": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "mode": {"type": "raw", "default": "0644"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
}
SECRET_SPEC = dict(FILE_SPEC, content={"type": "str", "no_log": True}, mode={"type": "raw", "default": "0600"})
RELEASE_SPEC = {
    "base": {"type": "path", "required": True},
    "files": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "path": {"type": "str", "required": True},
            "content": {"type": "str", "required": True},
            "mode": {"type": "raw", "default": "0644"},
        },
    },
    "link": {"type": "path"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
}
SERVED_SPEC = {
    "address": {"type": "str", "required": True},
    "port": {"type": "int"},
    "server_name": {"type": "str", "required": True},
    "path": {"type": "str", "default": "/"},
    "tls": {"type": "bool", "default": True},
    "status": {"type": "int", "default": 200},
    "body": {"type": "str"},
    "body_contains": {"type": "str"},
}
ARGUMENT_SPEC = {
    "files": {"type": "list", "elements": "dict", "default": [], "options": FILE_SPEC},
    "secret_files": {"type": "list", "elements": "dict", "default": [], "options": SECRET_SPEC, "no_log": False},
    "validate": {"type": "list", "elements": "str"},
    "activate": {"type": "list", "elements": "str"},
    "check": {"type": "list", "elements": "str"},
    "force_activate": {"type": "bool", "default": False},
    "validate_fail_on": {"type": "list", "elements": "str", "default": []},
    "release": {"type": "dict", "options": RELEASE_SPEC},
    "check_served": {"type": "list", "elements": "dict", "default": [], "options": SERVED_SPEC},
    "check_timeout": {"type": "float", "default": 10},
    "lock": {"type": "str"},
    "lock_timeout": {"type": "int", "default": 600},
    "state_dir": {"type": "path", "default": "/var/lib/matrixops-delegation"},
}


def snapshot(path):
    if os.path.lexists(path):
        with open(path, "rb") as handle:
            return handle.read(), os.stat(path)
    return None, None


def needs_change(spec, old, old_stat):
    if spec["state"] == "absent":
        return old is not None
    if old is None or old != to_bytes(spec["content"]):
        return True
    if (old_stat.st_mode & 0o7777) != int(normalize_mode(spec["mode"]), 8):
        return True
    if spec["owner"] and pwd.getpwuid(old_stat.st_uid).pw_name != spec["owner"]:
        return True
    return bool(spec["group"] and grp.getgrgid(old_stat.st_gid).gr_name != spec["group"])


def input_problems(entries, release):
    problems = []
    seen = set()
    for spec, _secret in entries:
        path = spec["path"]
        if not os.path.isabs(path):
            problems.append(f"files: path must be absolute, got {path!r}")
        if path in seen:
            problems.append(f"files: {path} is listed twice")
        seen.add(path)
        if spec["state"] == "present" and spec["content"] is None:
            problems.append(f"files: {path} needs content (or state: absent)")
        try:
            normalize_mode(spec["mode"])
        except ValueError:
            problems.append(f"{path}: mode must be an octal string like '0644', got {spec['mode']!r}")
    owners = [(spec["owner"], spec["group"], spec["path"]) for spec, _secret in entries]
    if release:
        problems += release_problems(release)
        owners.append((release["owner"], release["group"], "release"))
    for owner, group, where in owners:
        problems += _account_problems(owner, group, where)
    return problems


def _account_problems(owner, group, where):
    problems = []
    try:
        if owner:
            pwd.getpwnam(owner)
    except KeyError:
        problems.append(f"{where}: owner {owner!r} does not exist on this host")
    try:
        if group:
            grp.getgrnam(group)
    except KeyError:
        problems.append(f"{where}: group {group!r} does not exist on this host")
    return problems


def file_diff(spec, old, secret):
    if secret:
        before = "(secret content hidden)\n" if old is not None else ""
        after = "(secret content hidden, changed)\n" if spec["state"] == "present" else ""
    else:
        before = to_native(old or b"", errors="surrogate_or_replace")
        after = spec["content"] if spec["state"] == "present" else ""
    return {"before_header": spec["path"], "after_header": spec["path"], "before": before, "after": after}


def file_writer(module, spec):
    def writer(temp):
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(to_bytes(spec["content"]))
            handle.flush()
            os.fsync(handle.fileno())
        module.set_mode_if_different(temp, spec["mode"], False)
        if spec["owner"] or spec["group"]:
            module.set_owner_if_different(temp, spec["owner"], False)
            module.set_group_if_different(temp, spec["group"], False)

    return writer


def account_ids(owner, group):
    return (pwd.getpwnam(owner).pw_uid if owner else -1), (grp.getgrnam(group).gr_gid if group else -1)


def release_attributes(release):
    uid, gid = account_ids(release["owner"], release["group"])

    def apply(path, mode):
        os.chmod(path, int(mode, 8) if mode else 0o755)
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)

    return apply


def link_writer(target, release):
    uid, gid = account_ids(release["owner"], release["group"])

    def writer(temp):
        os.symlink(target, temp)
        if uid != -1 or gid != -1:
            os.lchown(temp, uid, gid)

    return writer


def run_command(module, command, label):
    rc, out, err = module.run_command(command)
    output = "\n".join(part for part in (to_native(out).strip(), to_native(err).strip()) if part)
    return rc == 0, f"{label} ({' '.join(command)}) exited {rc}: {output}" if rc else output


def fail_on_match(patterns, output, command):
    for pattern in patterns:
        found = re.search(pattern, output, re.MULTILINE)
        if found:
            line = next((line for line in output.splitlines() if re.search(pattern, line)), found.group(0))
            return f"validation ({' '.join(command)}) output matches validate_fail_on {pattern!r}: {line.strip()}"
    return ""


def default_lock(paths):
    return "files-" + hashlib.sha256("\n".join(sorted(paths)).encode("utf-8")).hexdigest()[:16]


def recover(module, journal_path):
    """Restore the interrupted run of ``journal_path`` (if any) before anything else."""
    journal = load_journal(journal_path)
    if journal is None:
        return {}
    transaction = Transaction(journal_path, journal)
    who = f"PID {journal.get('pid')}, started {journal.get('started')}"
    try:
        if journal.get("phase") == "cleanup":
            restored = []
            transaction.finish()
            message = f"finished the cleanup of an interrupted run ({who}) whose change was complete and checked"
        else:
            restored = transaction.restore()
            message = (
                f"restored the files of an interrupted run ({who}): {', '.join(restored) or 'none had changed yet'}"
            )
    except OSError as exc:
        raise TransactionError(
            f"recovering the interrupted run of {journal_path} ({who}) failed: {exc}; the journal stays and the "
            "next run tries again"
        ) from exc
    commands = journal.get("commands") or {}
    ran = []
    for option, label in (("validate", "validation"), ("activate", "activation")):
        if restored and commands.get(option):
            ok, output = run_command(module, commands[option], f"re-{label}")
            if not ok:
                message += f"; {output}"
                break
            ran.append({"validate": "validated", "activate": "activated"}[option])
    else:
        message += f"; {' and '.join(ran)} again" if ran else ""
    module.warn(f"config_files: {message} (journal {journal_path})")
    return {"journal": journal_path, "restored": restored, "message": message}


class Run:
    """One run after the lock: recover, plan, transaction, commands, cleanup."""

    def __init__(self, module, entries, result):
        self.module = module
        self.params = module.params
        self.entries = entries
        self.result = result
        self.transaction = None

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **{**self.result, "changed": False, **extra})

    def plan(self):
        changes, diffs = [], []
        for spec, secret in self.entries:
            old, old_stat = snapshot(spec["path"])
            if needs_change(spec, old, old_stat):
                changes.append(spec)
                diffs.append(file_diff(spec, old, secret))
        release = self.params["release"]
        plan = None
        if release:
            try:
                plan = plan_release(release)
            except TransactionError as exc:
                self.fail(str(exc))
                raise  # fail_json exits
            self.result.update(release_dir=plan.release_dir, release_id=plan.release_id)
            diffs = plan.diffs + diffs
        changed_files = (plan.changed_paths[:1] if plan else []) + [spec["path"] for spec in changes]
        changed_files += plan.changed_paths[1:] if plan else []
        self.result.update(changed=bool(changed_files), changed_files=changed_files, diff=diffs)
        return changes, plan

    def build(self, journal_path, lock_name, changes, plan):
        release = self.params["release"]
        commands = {option: self.params[option] for option in ("validate", "activate")}
        marker = {"base": release["base"], "id": plan.release_id} if plan else None
        transaction = Transaction.start(journal_path, lock_name, commands, marker)
        if plan and plan.dir_changes:
            transaction.add(plan.release_dir, write_release(release, plan.release_id, release_attributes(release)))
        for spec in changes:
            transaction.add(spec["path"], file_writer(self.module, spec) if spec["state"] == "present" else None)
        if plan and plan.link_changes:
            transaction.add(release["link"], link_writer(plan.release_dir, release))
        return transaction

    def rollback(self, message, reactivate):
        failed = {"rolled_back": True}
        if self.transaction is not None:
            try:
                self.transaction.restore()
            except OSError as exc:
                self.fail(
                    f"{message}; restoring the previous files failed too ({exc}): the journal "
                    f"{self.transaction.journal_path} stays and the next run restores them",
                    **failed,
                )
        if not (reactivate and self.params["activate"]):
            self.fail(f"{message}; the previous files were restored", **failed)
        again, again_output = run_command(self.module, self.params["activate"], "re-activation")
        tail = (
            "the previous files were restored and re-activated"
            if again
            else f"the previous files were restored but re-activating them failed too: {again_output}"
        )
        self.fail(f"{message}; {tail}", **failed)

    def commands(self):
        params = self.params
        if params["validate"]:
            ok, output = run_command(self.module, params["validate"], "validation")
            self.result["validate_output"] = output
            problem = output if not ok else fail_on_match(params["validate_fail_on"], output, params["validate"])
            if problem:
                self.rollback(problem, reactivate=False)
            fault("validated")
        for option, label in (("activate", "activation"), ("check", "post-activation check")):
            if params[option]:
                ok, output = run_command(self.module, params[option], label)
                if not ok:
                    self.rollback(output, reactivate=True)
                if option == "activate":
                    fault("activated")
        problems = verify_all(params["check_served"], params["check_timeout"])
        if problems:
            self.rollback("; ".join(problems), reactivate=True)
        if params["check"] or params["check_served"]:
            fault("checked")

    def apply(self, journal_path, lock_name):
        try:
            self.result["recovered"] = recover(self.module, journal_path)
        except TransactionError as exc:
            self.fail(str(exc))
        changes, plan = self.plan()
        if not self.result["changed"] and not self.params["force_activate"]:
            self.module.exit_json(**self.result)
        if self.result["changed"]:
            self.transaction = self.build(journal_path, lock_name, changes, plan)
            try:
                self.transaction.begin()
                self.transaction.prepare()
                self.transaction.commit()
            except TransactionError as exc:
                self.transaction = None  # already restored
                self.fail(str(exc), rolled_back=True)
        self.commands()
        if self.transaction is not None:
            try:
                self.transaction.done()
            except OSError as exc:
                where = describe_os_error(exc, "writing the journal", self.transaction.journal_path)
                self.rollback(f"recording the completed change failed: {where}", reactivate=True)
            try:
                self.transaction.finish()
            except OSError as exc:
                self.module.warn(
                    f"config_files: removing the backups failed ({exc}); the next run with lock {lock_name} finishes it"
                )
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    entries = [(spec, False) for spec in params["files"]] + [(spec, True) for spec in params["secret_files"]]
    release = params["release"]
    problems = input_problems(entries, release)
    if problems:
        module.fail_json(msg="; ".join(problems))
    targets = [spec["path"] for spec, _secret in entries]
    if release:
        targets += [release["base"]] + ([release["link"]] if release["link"] else [])
    lock_name = params["lock"] or default_lock(targets)
    journal_path = os.path.join(params["state_dir"], "transactions", f"{lock_name}.json")
    result = {"changed": False, "changed_files": [], "diff": [], "recovered": {}, "lock_waited": 0.0}
    run = Run(module, entries, result)
    if module.check_mode:
        if os.path.exists(journal_path):
            module.warn(f"config_files: the journal {journal_path} of an interrupted run would be recovered first")
        run.plan()
        module.exit_json(**result)
    try:
        lock = HostLock(lock_name, params["lock_timeout"])
        result["lock_waited"] = lock.acquire()
    except LockError as exc:
        module.fail_json(msg=str(exc), **result)
    fault("locked")
    try:
        run.apply(journal_path, lock_name)
    finally:
        lock.release()


if __name__ == "__main__":
    main()
