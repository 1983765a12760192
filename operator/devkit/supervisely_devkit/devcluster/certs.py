"""Certificates for the local control plane, made in-process with ``cryptography``.

``apiextensions-apiserver`` authorizes a request without any webhook only when it
presents a client certificate of the group ``system:masters`` signed by the CA it
trusts; anything anonymous goes to a webhook that is the server itself and times
out. So every run gets a private CA, a serving certificate for the loopback
address (so clients can verify the server instead of skipping verification) and
an admin client certificate. No ``openssl`` binary is needed.
"""

import datetime
import ipaddress
import pathlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough for any dev session, short enough that a leaked key is worthless soon.
CERTIFICATE_LIFETIME = datetime.timedelta(days=7)
# Clock skew between this process and the servers is nil, but be kind to suspended laptops.
BACKDATE = datetime.timedelta(hours=1)

ADMIN_GROUP = "system:masters"
ADMIN_USER = "admin"


@dataclass(frozen=True)
class CertificatePaths:
    """Where one run's PEM files lie; every client and server reads them from disk."""

    ca_cert: pathlib.Path
    serving_cert: pathlib.Path
    serving_key: pathlib.Path
    client_cert: pathlib.Path
    client_key: pathlib.Path


@dataclass(frozen=True)
class _Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are made in microseconds; RSA keys would cost a visible part of startup.
    return ec.generate_private_key(ec.SECP256R1())


def _name(*, common_name: str, organization: str | None = None) -> x509.Name:
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERTIFICATE_LIFETIME)
    )


def _make_ca(*, now: datetime.datetime) -> _Issued:
    key = _new_key()
    subject = _name(common_name="supervisely-operator devcluster CA")
    cert = (
        _builder(subject=subject, issuer=subject, public_key=key.public_key(), now=now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Issued(cert=cert, key=key)


def _issue(
    *,
    ca: _Issued,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    now: datetime.datetime,
    alt_names: list[x509.GeneralName] | None = None,
) -> _Issued:
    key = _new_key()
    builder = (
        _builder(subject=subject, issuer=ca.cert.subject, public_key=key.public_key(), now=now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return _Issued(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


def _write_cert(path: pathlib.Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: pathlib.Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)


def write_certificates(
    *, cert_dir: pathlib.Path, serving_dir: pathlib.Path, host: str = "127.0.0.1"
) -> CertificatePaths:
    """Make a CA, a serving pair and an admin client pair; write them as PEM files.

    The serving pair goes to ``serving_dir`` as ``apiserver.crt``/``apiserver.key``:
    that is the pair the API server looks for in its ``--cert-dir`` before it would
    generate a self-signed one, so the documented flags stay unchanged and clients
    can still verify the server against our CA.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca = _make_ca(now=now)
    serving = _issue(
        ca=ca,
        subject=_name(common_name="apiextensions-apiserver"),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        now=now,
        alt_names=[
            x509.IPAddress(ipaddress.ip_address(host)),
            x509.DNSName("localhost"),
        ],
    )
    client = _issue(
        ca=ca,
        subject=_name(common_name=ADMIN_USER, organization=ADMIN_GROUP),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        now=now,
    )
    cert_dir.mkdir(parents=True, exist_ok=True)
    serving_dir.mkdir(parents=True, exist_ok=True)
    paths = CertificatePaths(
        ca_cert=cert_dir / "ca.crt",
        serving_cert=serving_dir / "apiserver.crt",
        serving_key=serving_dir / "apiserver.key",
        client_cert=cert_dir / "admin.crt",
        client_key=cert_dir / "admin.key",
    )
    _write_cert(paths.ca_cert, ca.cert)
    _write_cert(paths.serving_cert, serving.cert)
    _write_key(paths.serving_key, serving.key)
    _write_cert(paths.client_cert, client.cert)
    _write_key(paths.client_key, client.key)
    return paths
