"""The certificates of the local control plane: who they name and who signed them.

The API server authorizes the admin certificate only because of its group
(``O=system:masters``) and our CA's signature, and clients verify the server only
if its certificate names the loopback address; a mistake in either shows up as
an opaque TLS or 403 error far away, so it is checked here directly.
"""

import ipaddress
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from supervisely_devkit.devcluster.certs import write_certificates


def _load(path: pathlib.Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    public_key.verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )  # raises if forged
    return cert.issuer == ca.subject


def test_the_admin_certificate_is_a_system_master_signed_by_the_ca(tmp_path: pathlib.Path) -> None:
    paths = write_certificates(cert_dir=tmp_path / "pki", serving_dir=tmp_path / "serving")
    ca, client = _load(paths.ca_cert), _load(paths.client_cert)
    organization = client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    common_name = client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in organization] == ["system:masters"]
    assert [a.value for a in common_name] == ["admin"]
    assert _signed_by(client, ca)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_the_serving_certificate_names_loopback_where_the_server_looks(
    tmp_path: pathlib.Path,
) -> None:
    paths = write_certificates(cert_dir=tmp_path / "pki", serving_dir=tmp_path / "serving")
    # apiextensions-apiserver uses <cert-dir>/apiserver.{crt,key} instead of self-signing.
    assert paths.serving_cert == tmp_path / "serving" / "apiserver.crt"
    assert paths.serving_key == tmp_path / "serving" / "apiserver.key"
    serving = _load(paths.serving_cert)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert _signed_by(serving, _load(paths.ca_cert))


def test_private_keys_are_readable_by_the_owner_only(tmp_path: pathlib.Path) -> None:
    paths = write_certificates(cert_dir=tmp_path / "pki", serving_dir=tmp_path / "serving")
    for key in (paths.client_key, paths.serving_key):
        assert key.stat().st_mode & 0o077 == 0
