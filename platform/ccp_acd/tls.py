"""TLS for gRPC and etcd: credentials from PEM files, one place that opens client channels, and the
certificates of the embedded platform.

What is encrypted: client-to-node gRPC (agent desktops, trunks, CLIs, the simulator), node-to-node gRPC
(SiteService, with a client certificate from the cluster CA) and every etcd client connection. Plaintext is
only ever what a caller explicitly asked for (``CCP_PLAINTEXT=true``, ``--plaintext``; for etcd
``CCP_ETCD_PLAINTEXT=true``, ``--etcd-plaintext``): ``ChannelSecurity`` without a CA uses the system's roots, it
never falls back to plaintext.

Not a certificate authority service: ``generate`` makes a throw-away CA for ``ccp up`` and the tests;
``issue`` signs one certificate with an existing CA (the operator's per-tenant node certificates, from the
chart's CA); otherwise certificates come from Secrets (cert-manager or the chart, docs/security.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Days the embedded platform's certificates are valid: a `ccp up` run lasts minutes, a test session an hour;
# one day is enough and a leaked run folder is useless by tomorrow.
GENERATED_VALID_DAYS = 1
# Seconds the certificates' start is back-dated, so a host clock slightly behind the signer's still accepts them.
CLOCK_SKEW_S = 300
TRUE = {"1", "true", "yes", "on"}


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from e


@dataclass(frozen=True)
class ChannelSecurity:
    """How a client reaches a gRPC endpoint (a node, or etcd): TLS (the default) or explicit plaintext.

    ``ca_file`` verifies the server (None: the system's trust store); ``cert_file``/``key_file`` are the
    client certificate (node-to-node mTLS, etcd's --client-cert-auth). ``server_name`` overrides the name the
    server's certificate must carry when the address is not one of its names (a pod IP, say).
    """

    plaintext: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("a client certificate needs both its certificate and its key file")
        if self.plaintext and (self.ca_file or self.cert_file):
            raise ValueError("plaintext was asked for together with TLS files; choose one")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *, plaintext: bool | None = None) -> ChannelSecurity:
        """A client's security for nodes: CCP_TLS_CA_FILE (and the node's own cert/key), or CCP_PLAINTEXT=true.

        ``plaintext`` (a CLI's --plaintext) wins over the environment when given.
        """
        if plaintext if plaintext is not None else environ.get("CCP_PLAINTEXT", "").lower() in TRUE:
            return cls(plaintext=True)
        return cls(
            ca_file=environ.get("CCP_TLS_CA_FILE", ""),
            cert_file=environ.get("CCP_TLS_CERT_FILE", ""),
            key_file=environ.get("CCP_TLS_KEY_FILE", ""),
        )

    @classmethod
    def etcd_from_env(cls, environ: Mapping[str, str] = os.environ, *, plaintext: bool | None = None) -> ChannelSecurity:
        """etcd's client security from CCP_ETCD_CA_FILE / _CERT_FILE / _KEY_FILE or CCP_ETCD_PLAINTEXT=true, by
        ``etcd_security``'s rule (neither, or both, is a ValueError). ``plaintext`` (a CLI's --etcd-plaintext)
        wins over the environment when given.
        """
        files = {name: environ.get(f"CCP_ETCD_{name.upper()}", "") for name in ("ca_file", "cert_file", "key_file")}
        if plaintext is None:
            plaintext = environ.get("CCP_ETCD_PLAINTEXT", "").lower() in TRUE
        return etcd_security(**files, plaintext=plaintext)

    def credentials(self) -> grpc.ChannelCredentials:
        cert = _read(self.cert_file) if self.cert_file else None
        key = _read(self.key_file) if self.key_file else None
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file) if self.ca_file else None, private_key=key, certificate_chain=cert
        )

    def options(self) -> list[tuple[str, object]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name and not self.plaintext else []


def etcd_security(*, ca_file: str, cert_file: str, key_file: str, plaintext: bool) -> ChannelSecurity:
    """How a process reaches etcd, by the rule every etcd client here follows (nodes, operator, CLIs): TLS with
    CCP_ETCD_CA_FILE (and a client certificate for etcd's --client-cert-auth), or CCP_ETCD_PLAINTEXT=true asked
    for explicitly; neither is refused, and so are both. The messages name the variables, as settings errors.
    """
    if plaintext and (ca_file or cert_file or key_file):
        raise ValueError("CCP_ETCD_PLAINTEXT=true together with CCP_ETCD_CA_FILE/CCP_ETCD_CERT_FILE/CCP_ETCD_KEY_FILE: "
                         "choose one")
    if plaintext:
        return ChannelSecurity(plaintext=True)
    if not ca_file:
        raise ValueError("no etcd TLS: set CCP_ETCD_CA_FILE (and CCP_ETCD_CERT_FILE, CCP_ETCD_KEY_FILE for a client "
                         "certificate), or CCP_ETCD_PLAINTEXT=true for plaintext etcd (local development only)")
    if bool(cert_file) != bool(key_file):
        raise ValueError("an etcd client certificate needs both CCP_ETCD_CERT_FILE and CCP_ETCD_KEY_FILE")
    return ChannelSecurity(ca_file=ca_file, cert_file=cert_file, key_file=key_file)


def open_channel(
    address: str, security: ChannelSecurity, *, options: Sequence[tuple[str, object]] = ()
) -> grpc.aio.Channel:
    """An asyncio channel to ``address``: TLS unless ``security`` is explicitly plaintext."""
    merged = [*options, *security.options()]
    if security.plaintext:
        return grpc.aio.insecure_channel(address, options=merged)
    return grpc.aio.secure_channel(address, security.credentials(), options=merged)


def open_sync_channel(
    address: str, security: ChannelSecurity, *, options: Sequence[tuple[str, object]] = ()
) -> grpc.Channel:
    """A blocking channel to ``address`` (CLIs, health probes): TLS unless ``security`` is explicitly plaintext."""
    merged = [*options, *security.options()]
    if security.plaintext:
        return grpc.insecure_channel(address, options=merged)
    return grpc.secure_channel(address, security.credentials(), options=merged)


def server_credentials(*, cert_file: str, key_file: str, ca_file: str, require_client_cert: bool) -> grpc.ServerCredentials:
    """The node's server credentials. With ``require_client_cert`` the handshake demands a certificate signed by
    ``ca_file`` (the node-to-node port); without, no client certificate is asked for at all (gRPC Python can
    only require one or not request one) and clients authenticate with bearer tokens.
    """
    pair = (_read(key_file), _read(cert_file))
    roots = _read(ca_file) if require_client_cert else None
    return grpc.ssl_server_credentials([pair], root_certificates=roots, require_client_auth=require_client_cert)


def peer_certified(auth_context: Mapping[str, Sequence[bytes]]) -> bool:
    """Whether a call came over TLS with a client certificate the server verified (its x509 identity is set)."""
    return auth_context.get("transport_security_type") == [b"ssl"] and bool(
        auth_context.get("x509_common_name") or auth_context.get("x509_subject_alternative_name")
    )


@dataclass(frozen=True)
class GeneratedCerts:
    """PEM files ``generate`` wrote: a CA and one certificate (server and client) signed by it."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def client(self, *, with_cert: bool = True) -> ChannelSecurity:
        if with_cert:
            return ChannelSecurity(ca_file=str(self.ca_file), cert_file=str(self.cert_file), key_file=str(self.key_file))
        return ChannelSecurity(ca_file=str(self.ca_file))

    def node_env(self) -> dict[str, str]:
        """The CCP_* variables that make a node serve with these files (gRPC and etcd client)."""
        return {
            "CCP_TLS_CERT_FILE": str(self.cert_file),
            "CCP_TLS_KEY_FILE": str(self.key_file),
            "CCP_TLS_CA_FILE": str(self.ca_file),
            "CCP_PLAINTEXT": "false",
            "CCP_ETCD_CA_FILE": str(self.ca_file),
            "CCP_ETCD_CERT_FILE": str(self.cert_file),
            "CCP_ETCD_KEY_FILE": str(self.key_file),
            "CCP_ETCD_PLAINTEXT": "false",
        }


def _write_private(path: Path, data: bytes) -> None:
    """Written 0600 from the start: the key is never readable by others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ccp"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _authority_key_id(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:  # a CA made without one (older tools): derive it from its key
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _sign_leaf(ca: x509.Certificate, ca_key, *, common_name: str, hosts: Sequence[str], start: datetime.datetime,
               end: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new key and its certificate for ``hosts`` (SAN IP or DNS each), server and client auth, signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(_san(hosts), critical=False)
        .add_extension(_authority_key_id(ca), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass(frozen=True)
class Issued:
    """A certificate ``issue`` signed, and its key (PEM), with when it expires."""

    cert_pem: bytes
    key_pem: bytes
    not_after: datetime.datetime


def issue(
    *,
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    common_name: str,
    hosts: Sequence[str],
    valid_days: int,
    now: datetime.datetime | None = None,
) -> Issued:
    """A certificate for ``hosts`` (server and client auth, a new EC P-256 key) signed by an existing CA.

    For the operator, which issues each tenant's node certificate from the chart's CA (any key type the
    ``cryptography`` library loads: Helm's genCA makes RSA). ValueError when the PEMs are not a CA certificate
    and its unencrypted key, or the key is not the certificate's.
    """
    try:
        ca = x509.load_pem_x509_certificate(ca_cert_pem)
        ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise ValueError(f"not a PEM CA certificate and unencrypted key: {e}") from None
    if ca_key.public_key() != ca.public_key():
        raise ValueError("the CA key does not belong to the CA certificate")
    try:
        is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ValueError("the CA certificate is not a CA (no basicConstraints CA:TRUE)")
    now = now or datetime.datetime.now(datetime.UTC)
    if ca.not_valid_after_utc <= now:
        raise ValueError(f"the CA certificate expired at {ca.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
    end = min(now + datetime.timedelta(days=valid_days), ca.not_valid_after_utc)  # never outlive the CA
    cert, key = _sign_leaf(ca, ca_key, common_name=common_name, hosts=hosts,
                           start=now - datetime.timedelta(seconds=CLOCK_SKEW_S), end=end)
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), end)


def generate(
    directory: Path,
    *,
    common_name: str = "ccp-node",
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    ca_name: str = "ccp embedded CA",
) -> GeneratedCerts:
    """A fresh CA and a certificate for ``hosts`` (SAN IP or DNS each) usable as server and client certificate.

    Files (0600) in ``directory``: ca.pem, node.pem, node-key.pem. The CA's key is not kept: nothing else
    will ever be signed with it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(seconds=CLOCK_SKEW_S), now + datetime.timedelta(days=GENERATED_VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert, key = _sign_leaf(ca, ca_key, common_name=common_name, hosts=hosts, start=start, end=end)
    generated = GeneratedCerts(directory / "ca.pem", directory / "node.pem", directory / "node-key.pem")
    _write_private(generated.ca_file, ca.public_bytes(serialization.Encoding.PEM))
    _write_private(generated.cert_file, cert.public_bytes(serialization.Encoding.PEM))
    _write_private(generated.key_file, _key_pem(key))
    return generated
