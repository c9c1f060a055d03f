"""``ccp_acd.tls.issue``: a certificate for given names signed by an existing CA (the operator's per-tenant node
certificates), checked with ``cryptography`` and by a real TLS handshake; CAs as Helm's genCA makes them (RSA)
and as ``generate`` makes them (EC)."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from ccp_acd.tls import CLOCK_SKEW_S, Issued, issue
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
HOSTS = ["acd-acme-site-a", "acd-acme-site-a.shop.svc", "*.acd-acme-site-a-headless.shop.svc", "localhost", "127.0.0.1"]


def _ca(*, key=None, days: int = 3650, is_ca: bool = True, start: datetime.datetime = NOW) -> tuple[bytes, bytes]:
    """A CA like Helm's genCA (RSA 2048, PKCS#1 key PEM, no subject key identifier) unless told otherwise."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ccp ACD CA")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(days=1)).not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_format = serialization.PrivateFormat.TraditionalOpenSSL
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption()))


def _issue(ca: tuple[bytes, bytes], **kwargs) -> Issued:
    return issue(ca_cert_pem=ca[0], ca_key_pem=ca[1], **{"common_name": "ccp-acd-acme", "hosts": HOSTS,
                                                         "valid_days": 365, "now": NOW, **kwargs})


@pytest.mark.parametrize("key", [None, ec.generate_private_key(ec.SECP256R1())], ids=["rsa-like-helm", "ec"])
def test_the_issued_certificate_names_the_hosts_is_signed_by_the_ca_and_serves_and_authenticates_clients(key):
    ca_pem, ca_key = _ca(key=key)
    issued = _issue((ca_pem, ca_key))
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == HOSTS[:-1]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ccp-acd-acme"
    private = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert private.public_key() == cert.public_key()


def test_the_issued_certificate_is_valid_for_the_days_asked_from_now_less_the_clock_skew():
    issued = _issue(_ca(), valid_days=365)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(seconds=CLOCK_SKEW_S)
    assert cert.not_valid_after_utc == issued.not_after == NOW + datetime.timedelta(days=365)


def test_the_issued_certificate_never_outlives_its_ca():
    issued = _issue(_ca(days=10), valid_days=365)
    assert issued.not_after == NOW + datetime.timedelta(days=10)
    assert x509.load_pem_x509_certificate(issued.cert_pem).not_valid_after_utc == issued.not_after


def test_a_tls_handshake_trusting_only_the_ca_accepts_the_issued_certificate_for_its_names(tmp_path: Path):
    now = datetime.datetime.now(datetime.UTC)
    ca = _ca(start=now)
    issued = _issue(ca, now=now)
    (tmp_path / "cert.pem").write_bytes(issued.cert_pem)
    (tmp_path / "key.pem").write_bytes(issued.key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=ca[0].decode())

    def handshake(name: str) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        c = client.wrap_bio(incoming, outgoing, server_hostname=name)
        s = server.wrap_bio(s_in, s_out, server_side=True)
        for _ in range(10):  # a TLS 1.3 handshake takes a few flights; bounded
            try:
                c.do_handshake()
                return
            except ssl.SSLWantReadError:
                pass
            s_in.write(outgoing.read())
            try:
                s.do_handshake()
            except ssl.SSLWantReadError:
                pass
            incoming.write(s_out.read())
        raise AssertionError("no handshake")

    handshake("pod-0.acd-acme-site-a-headless.shop.svc")
    handshake("localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake("acd-acme-site-a.other-namespace.svc")


def test_pems_that_are_not_a_usable_ca_are_refused_with_the_reason():
    ca_pem, ca_key = _ca()
    _, other_key = _ca()
    with pytest.raises(ValueError, match="does not belong to the CA certificate"):
        _issue((ca_pem, other_key))
    with pytest.raises(ValueError, match="not a PEM CA certificate"):
        _issue((b"not a certificate", ca_key))
    with pytest.raises(ValueError, match="not a CA"):
        _issue(_ca(is_ca=False))
    with pytest.raises(ValueError, match="expired at"):
        _issue(_ca(days=1, start=NOW - datetime.timedelta(days=5)))
