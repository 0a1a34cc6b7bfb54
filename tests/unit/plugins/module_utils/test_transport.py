"""Transport failures are told by the types along the exception chain, never by their text."""

import pytest
import requests

from ansible_collections.stamus.scs.plugins.module_utils import _transport as transport


@pytest.mark.parametrize("error, kind", [
    ("refused", transport.NEVER_SENT), ("unresolved", transport.NEVER_SENT), ("untrusted", transport.CERTIFICATE),
    ("name_mismatch", transport.CERTIFICATE), ("tls_eof", transport.DROPPED), ("reset", transport.DROPPED),
    ("read_timeout", transport.TIMEOUT),
])
def test_real_failures_are_classified_by_type(real_errors, error, kind):
    assert transport.classify(real_errors[error])[0] == kind


def test_the_certificate_problem_comes_from_openssl_not_from_the_message(real_errors):
    kind, cause = transport.classify(real_errors["name_mismatch"])
    assert kind == transport.CERTIFICATE and cause.verify_message in transport.certificate_problem(cause)
    assert "HTTPSConnectionPool" not in transport.certificate_problem(cause)


@pytest.mark.parametrize("exc", [
    requests.exceptions.SSLError("certificate verify failed: self-signed certificate"),
    requests.exceptions.ConnectionError("Failed to establish a new connection (NewConnectionError): connection reset"),
])
def test_words_in_a_message_decide_nothing(exc):
    assert transport.classify(exc) == (transport.FAILED, exc)


def test_a_cyclic_chain_ends():
    first, second = ValueError("first"), ValueError("second")
    first.__context__, second.__context__ = second, first
    assert transport.exception_chain(first) == [first, second]
