"""A development signing certificate for content credentials, made on this machine.

C2PA readers refuse a self-signed signing certificate, so this is a small chain: a root that
only signs certificates, and under it an ES256 end-entity certificate for signing (digital
signature only, the e-mail protection purpose C2PA accepts, not a CA). Readers trust it only
where they are told to (EASEL_C2PA_TRUST_ANCHORS names the root): it is for `make run` and the
tests. Production signs with an operator's certificate from a CA on the C2PA trust list.
"""

import datetime
import fcntl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEVELOPMENT_ORGANISATION = "Easel (development only)"
_CHAIN, _KEY, _ROOT = "chain.pem", "key.pem", "root.pem"


@dataclass(frozen=True)
class CertificateFiles:
    chain: Path  # the signing certificate, then its issuer (PEM)
    key: Path  # the signing certificate's private key (PEM, PKCS #8, unencrypted)
    root: Path  # the root to trust when reading (PEM)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def signing_chain_create(
    *, folder: Path, organisation: str = DEVELOPMENT_ORGANISATION, days: int = 825
) -> CertificateFiles:
    """Writes a fresh root and signing certificate (and its key, readable by the owner only)."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{organisation} root", organisation)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days + 1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    signing_key = ec.generate_private_key(ec.SECP256R1())
    signing = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{organisation} content credentials", organisation))
        .issuer_name(root_name)
        .public_key(signing_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signing_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = CertificateFiles(chain=folder / _CHAIN, key=folder / _KEY, root=folder / _ROOT)
    pem = serialization.Encoding.PEM
    files.key.touch(mode=0o600)
    files.key.write_bytes(
        signing_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.chain.write_bytes(signing.public_bytes(pem) + root.public_bytes(pem))
    files.root.write_bytes(root.public_bytes(pem))
    return files


def development_chain_ensure(*, folder: Path) -> CertificateFiles:
    """The development chain in `folder`, made there first if it is missing or expires within
    a month. Idempotent: `make run` and the test suite call it every time, under a lock so two
    processes never write a key that does not match its certificate."""
    files = CertificateFiles(chain=folder / _CHAIN, key=folder / _KEY, root=folder / _ROOT)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(path.exists() for path in (files.chain, files.key, files.root)):
            signing = x509.load_pem_x509_certificates(files.chain.read_bytes())[0]
            remaining = signing.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
            if remaining > datetime.timedelta(days=30):
                return files
        return signing_chain_create(folder=folder)


def is_development_certificate(chain_pem: bytes) -> bool:
    signing = x509.load_pem_x509_certificates(chain_pem)[0]
    names = signing.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return any(attribute.value == DEVELOPMENT_ORGANISATION for attribute in names)
