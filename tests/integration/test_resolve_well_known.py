"""The well-known fetch: every way it can fail falls through with its reason; redirects; cache."""

from __future__ import annotations

import pytest
from it_expect import (
    ANY,
    Text,
    assert_result,
    delegated_by_well_known,
    fell_through_to_default_port,
    fell_through_to_srv,
    well_known_failed,
    well_known_ok,
)
from it_world import (
    CACHE_CASES,
    DEAD_IP,
    DELEGATED,
    DRIP_TIMEOUT,
    ELEVEN_REDIRECTS,
    GRAMMAR_BREAKERS,
    REDIRECT_CHAIN,
    TEN_REDIRECTS,
    WK_IP,
    WK_PATH,
    ip,
    n,
)

# -- failures: each falls through, well_known.error says why, cached for 3600 s ------------------


def fell_through(resolve, label: str, error: Text, *, address: str = WK_IP, warnings: object = (), **failure) -> dict:
    """``label`` resolved by rule 6 (its own ``address``, port 8448) after its well-known failed with
    ``error`` (``failure``: the other fields of the well-known report). Returns the result."""
    host = n(label)
    got = resolve(host)
    assert_result(
        got, fell_through_to_default_port(host, address, well_known_failed(host, error, **failure), warnings=warnings)
    )
    return got


def test_non_200_falls_through_to_default_port(resolve):
    fell_through(resolve, "wk-500", Text("500"), status=500)


def test_non_200_falls_through_to_srv(resolve):
    host = n("wk-404-srv")
    assert_result(
        resolve(host),
        fell_through_to_srv(host, well_known_failed(host, Text("404"), status=404), "srv-host.it.test", 8454, ip(29)),
    )


def test_bad_json_falls_through(resolve):
    fell_through(resolve, "wk-badjson", Text("json"), status=200)


def test_json_that_is_not_an_object_falls_through(resolve):
    fell_through(resolve, "wk-notobject", Text(), status=200)


def test_missing_m_server_falls_through_with_m_server_null(resolve):
    fell_through(resolve, "wk-missing", Text("m.server"), status=200, m_server=None)


def test_non_string_m_server_falls_through_and_is_reported_as_sent(resolve):
    fell_through(resolve, "wk-nonstring", Text("m.server"), status=200, m_server=8448)


@pytest.mark.parametrize("label", sorted(GRAMMAR_BREAKERS))
def test_m_server_breaking_the_grammar_is_an_error_and_falls_through(resolve, label):
    value = GRAMMAR_BREAKERS[label]
    # repeated as a warning, since homeservers disagree about such a file
    got = fell_through(resolve, label, Text(value), status=200, m_server=value, warnings=ANY)
    assert got["warnings"] == [Text(value)]


def test_oversize_body_of_51200_bytes_falls_through(resolve):
    # The status line did arrive: status is 200 (null is for "no HTTP response").
    fell_through(resolve, "wk-oversize", Text(), status=200)


def test_oversize_body_without_content_length_falls_through(resolve):
    fell_through(resolve, "wk-oversize-nolength", Text(), status=200)


def test_body_of_51199_bytes_is_accepted(resolve):
    host = n("wk-just-under-limit")
    assert_result(resolve(host), delegated_by_well_known(host, well_known_ok(host, DELEGATED)))


def test_untrusted_certificate_falls_through_to_srv(resolve):
    host = n("wk-untrusted")
    assert_result(
        resolve(host),
        fell_through_to_srv(host, well_known_failed(host, Text("certificate")), "srv-host.it.test", 8454, ip(29)),
    )


def test_expired_certificate_falls_through(resolve):
    fell_through(resolve, "wk-expired", Text("certificate"))


def test_certificate_for_another_name_falls_through(resolve):
    fell_through(resolve, "wk-wrong-name", Text())


def test_connection_refused_falls_through(resolve):
    fell_through(resolve, "wk-refused", Text(), address=DEAD_IP)


def test_response_dripping_bytes_is_cut_off_at_timeout(outcome, world):
    host = n("wk-drip")
    assert_result(
        outcome("drip").result, fell_through_to_default_port(host, WK_IP, well_known_failed(host, Text(), status=ANY))
    )
    (request,) = world.https.requests_for(host, WK_PATH)
    assert request.finished is not None
    # The whole response is bounded by `timeout`, not each read: the body would take 30 s.
    assert request.finished - request.started < DRIP_TIMEOUT + 2, request
    assert request.client_gone is not None, request  # the client went away


# -- Content-Type is not checked, only warned about --------------------------------------------


def test_non_json_content_type_still_works_with_a_warning(resolve):
    host = n("wk-text-plain")
    assert_result(
        resolve(host), delegated_by_well_known(host, well_known_ok(host, DELEGATED), warnings=[Text("text/plain")])
    )


def test_json_content_type_with_charset_gives_no_warning(resolve):
    host = n("wk-json-charset")
    assert_result(resolve(host), delegated_by_well_known(host, well_known_ok(host, DELEGATED)))


# -- redirects ------------------------------------------------------------------------------------


def test_redirect_chain_through_301_302_303_307_308_is_followed_and_listed(resolve, world):
    host = n("wk-redirect")
    redirects = [hop[1] for hop in REDIRECT_CHAIN]
    assert_result(resolve(host), delegated_by_well_known(host, well_known_ok(host, DELEGATED, redirects=redirects)))
    # Each hop went to its own host with that host's SNI.
    final = world.https.requests_for(n("wk-redirect-final"), WK_PATH)
    assert [(r.sni, r.host) for r in final] == [(n("wk-redirect-final"), n("wk-redirect-final"))]


def test_ten_redirects_are_followed(resolve):
    host = n("wk-10-redirects")
    assert_result(resolve(host), delegated_by_well_known(host, well_known_ok(host, DELEGATED, redirects=TEN_REDIRECTS)))


def test_more_than_ten_redirects_fall_through(resolve):
    got = fell_through(resolve, "wk-11-redirects", Text("redirect"), status=ANY, redirects=ANY)
    assert got["well_known"]["redirects"] == ELEVEN_REDIRECTS[: len(got["well_known"]["redirects"])]
    assert len(got["well_known"]["redirects"]) >= 10


def test_redirect_loop_is_detected_and_falls_through(resolve, world):
    fell_through(resolve, "wk-loop", Text("loop"), status=ANY, redirects=ANY)
    # Detected, not run into the hop limit: at most one lap.
    assert len(world.https.requests_for(n("wk-loop"), WK_PATH)) <= 2


def test_redirect_to_plain_http_is_refused_and_falls_through(resolve):
    fell_through(resolve, "wk-to-http", Text("http://"), status=ANY, redirects=ANY)


# -- what the server saw ------------------------------------------------------------------------------


def test_well_known_is_fetched_with_sni_and_host_header_of_the_server_name(resolve, world):
    resolve(n("wk-port"))
    seen = {(r.sni, r.host, r.path) for r in world.https.requests_for(n("wk-port"), WK_PATH)}
    assert seen == {(n("wk-port"), n("wk-port"), WK_PATH)}


# -- cache period -------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", list(CACHE_CASES))
def test_cache_seconds(resolve, label):
    headers, seconds = CACHE_CASES[label]
    got = resolve(n(label))
    assert got["method"] == "well_known_explicit_port"
    assert got["well_known"]["cache_seconds"] == seconds, headers


def test_failed_well_known_is_cached_for_3600_seconds(resolve):
    assert resolve(n("default"))["well_known"]["cache_seconds"] == 3600
