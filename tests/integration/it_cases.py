"""The cases of the batched playbook run: which names are resolved, alone or together, and how."""

from __future__ import annotations

import it_world as w
from support.playbook import Case

# Names resolved alone, each in its own task, with the standard options (private addresses allowed).
SINGLE_NAMES = [
    w.ip(20),
    f"{w.ip(20)}:8449",
    "[::1]",
    "[::1]:8449",
    "explicit.it.test:8449",
    "wk-ip.it.test",
    "wk-ip6.it.test",
    "wk-port.it.test",
    "wk-srv.it.test",
    "wk-legacy.it.test",
    "wk-default.it.test",
    "srv.it.test",
    "srv-legacy.it.test",
    "default.it.test",
    "wk-500.it.test",
    "wk-404-srv.it.test",
    "wk-badjson.it.test",
    "wk-notobject.it.test",
    "wk-missing.it.test",
    "wk-nonstring.it.test",
    *(f"{label}.it.test" for label in w.GRAMMAR_BREAKERS),
    "wk-oversize.it.test",
    "wk-oversize-nolength.it.test",
    "wk-just-under-limit.it.test",
    "wk-redirect.it.test",
    "wk-10-redirects.it.test",
    "wk-11-redirects.it.test",
    "wk-loop.it.test",
    "wk-to-http.it.test",
    "wk-untrusted.it.test",
    "wk-expired.it.test",
    "wk-wrong-name.it.test",
    "wk-refused.it.test",
    "wk-text-plain.it.test",
    "wk-json-charset.it.test",
    *(f"{label}.it.test" for label in w.CACHE_CASES),
    "srv-priority.it.test",
    "srv-fed-and-legacy.it.test",
    "srv-cname.it.test",
    "srv-nxdomain.it.test",
    "srv-nodata.it.test",
    "dual.it.test:8448",
    "v6only.it.test:8448",
    "bücher.it.test:8448",
    "EXPLICIT.it.test:8449",
    f"{w.LONG_NAME}:8448",
]

# Names whose lookup must fail: each alone, so the error is its own.
INVALID_NAMES = ["example.test.", "host:0", "host:65536", "a b", "[::1", "a..b", "https://example.test", ""]
FAILING_NAMES = [
    "srv-disabled.it.test",
    "srv-servfail.it.test",
    "srv-servfail-legacy.it.test",
    "srv-fed-no-address.it.test",
    "nothing.it.test",
]

MULTI_TERMS = ["wk-port.it.test", w.ip(20), "explicit.it.test:8449", "wk-port.it.test"]


def build_cases(options: dict) -> dict[str, Case]:
    private = {k: v for k, v in options.items() if k != "allow_private_addresses"}
    cases = {name: Case([name], options) for name in [*SINGLE_NAMES, *INVALID_NAMES, *FAILING_NAMES]}
    cases.update(
        {
            "multi": Case(MULTI_TERMS, options),
            "once-twice-in-one-call": Case(["once.it.test", "once.it.test"], options),
            "twice-first-task": Case(["twice.it.test"], options),
            "twice-second-task": Case(["twice.it.test"], options),
            "private-dns-name": Case(["explicit.it.test:8449"], private),
            "private-ip-literal": Case([w.ip(20)], private),
            "drip": Case(["wk-drip.it.test"], {**options, "timeout": w.DRIP_TIMEOUT}),
        }
    )
    return cases
