"""One certificate authority per lab, and the host certificates it issues.

The CA lives in the lab's own directory: ``ca.pem`` is what clients are told
to trust (``curl --cacert``, ``openssl s_client -CAfile``), ``ca.key`` never
leaves the directory. Host certificates come in variants so a scenario can
break TLS on purpose: expired, not yet valid, issued for another name,
self-signed, signed by a CA nobody trusts, or revoked in the CRL.

Keys are EC P-256: a lab must be ready in well under a second, and an RSA
key would cost more than the whole rest of the start-up.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CertVariant = Literal[
    "good",
    "expired",
    "not-yet-valid",
    "name-mismatch",
    "self-signed",
    "unknown-ca",
    "revoked",
]
CERT_VARIANTS: Final[tuple[str, ...]] = get_args(CertVariant)

CA_CERT_FILE: Final = "ca.pem"
CA_KEY_FILE: Final = "ca.key"
UNTRUSTED_CA_CERT_FILE: Final = "untrusted-ca.pem"
UNTRUSTED_CA_KEY_FILE: Final = "untrusted-ca.key"
REVOKED_FILE: Final = "revoked.txt"

CA_LIFETIME: Final = datetime.timedelta(days=365)
LEAF_LIFETIME: Final = datetime.timedelta(days=30)
# Backdating hides small clock differences between lab processes.
BACKDATE: Final = datetime.timedelta(hours=1)
CRL_LIFETIME: Final = datetime.timedelta(days=1)

_SAFE_STEM = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class IssuedCert:
    """A host certificate and its key, in memory and on disk.

    ``cert_path`` holds the leaf alone (what the lab servers present, so that
    an untrusted issuer shows up as "unable to get local issuer certificate");
    ``chain_path`` holds the leaf followed by its issuer, if any.
    """

    names: tuple[str, ...]
    ips: tuple[str, ...]
    variant: CertVariant
    serial: int
    not_before: datetime.datetime
    not_after: datetime.datetime
    crl_url: str | None
    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes
    cert_path: Path
    key_path: Path
    chain_path: Path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o644)


def _write_secret(path: Path, data: bytes) -> None:
    # O_CREAT with 0600 so the key is never readable by others, not even
    # between the write and a later chmod; fchmod covers a file that existed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _ca_name(org: str, label: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{org} {label}"),
    ])


def _make_ca(org: str, label: str) -> tuple[ec.EllipticCurvePrivateKey,
                                             x509.Certificate]:
    key = _new_key()
    name = _ca_name(org, label)
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        # RFC 5280 4.2.1.9: a CA certificate must assert cA, critically.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                       critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _load_pair(directory: Path, cert_file: str, key_file: str,
               ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert = x509.load_pem_x509_certificate((directory / cert_file).read_bytes())
    key = serialization.load_pem_private_key(
        (directory / key_file).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_file}: not an EC private key")
    return key, cert


def _other_name(name: str) -> str:
    """A sibling host name that does not match ``name`` (for name-mismatch)."""
    labels = name.split(".")
    if len(labels) < 2:
        return "other-host.invalid"
    return ".".join(["other-host", *labels[1:]])


def _stem(names: list[str], ips: list[str], variant: str) -> str:
    first = names[0] if names else (ips[0] if ips else "host")
    stem = _SAFE_STEM.sub("_", first).strip(".") or "host"
    return stem if variant == "good" else f"{stem}-{variant}"


class LabCA:
    """The certificate authority of one lab, kept in one directory."""

    def __init__(self, directory: Path, org: str,
                 key: ec.EllipticCurvePrivateKey,
                 cert: x509.Certificate) -> None:
        self.directory = directory
        self.org = org
        self._key = key
        self._cert = cert
        self._untrusted: tuple[ec.EllipticCurvePrivateKey,
                               x509.Certificate] | None = None
        self._revoked: dict[int, datetime.datetime] = {}

    # -- construction ---------------------------------------------------

    @classmethod
    def create(cls, directory: Path, org: str) -> LabCA:
        """Make a fresh CA for ``org`` and write ``ca.pem``/``ca.key``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)

        key, cert = _make_ca(org, "Lab CA")
        _write_public(directory / CA_CERT_FILE, _cert_pem(cert))
        _write_secret(directory / CA_KEY_FILE, _key_pem(key))

        revoked = directory / REVOKED_FILE
        if revoked.exists():
            revoked.unlink()
        log.info("created lab CA for %s in %s", org, directory)
        return cls(directory, org, key, cert)

    @classmethod
    def load(cls, directory: Path) -> LabCA:
        """Reopen a CA that :meth:`create` wrote earlier into ``directory``."""
        directory = Path(directory)
        key, cert = _load_pair(directory, CA_CERT_FILE, CA_KEY_FILE)
        orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        org = str(orgs[0].value) if orgs else "lab"
        ca = cls(directory, org, key, cert)

        if (directory / UNTRUSTED_CA_CERT_FILE).exists():
            ca._untrusted = _load_pair(directory, UNTRUSTED_CA_CERT_FILE,
                                       UNTRUSTED_CA_KEY_FILE)
        ca._revoked = ca._read_revoked()
        return ca

    # -- public properties ----------------------------------------------

    @property
    def ca_path(self) -> Path:
        """The PEM file clients must trust."""
        return self.directory / CA_CERT_FILE

    @property
    def ca_pem(self) -> bytes:
        return _cert_pem(self._cert)

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    # -- issuing --------------------------------------------------------

    def issue(self, names: list[str], ips: list[str] | None = None, *,
              variant: CertVariant = "good", crl_url: str | None = None,
              stem: str | None = None) -> IssuedCert:
        """Issue a host certificate for ``names`` and ``ips`` (SAN entries).

        ``crl_url`` becomes the CRL Distribution Point (RFC 5280 4.2.1.13).
        The files are ``<stem>.crt``, ``<stem>.key`` and ``<stem>-chain.pem``
        in the CA directory; ``stem`` defaults to the first name plus the
        variant.
        """
        ips = list(ips or [])
        if variant not in CERT_VARIANTS:
            raise ValueError(f"unknown certificate variant {variant!r}")
        if not names and not ips:
            raise ValueError("a certificate needs at least one name or IP")

        san_names, san_ips = list(names), list(ips)
        if variant == "name-mismatch":
            san_names = [_other_name(names[0] if names else "host")]
            san_ips = []

        now = _now()
        not_before, not_after = now - BACKDATE, now + LEAF_LIFETIME
        if variant == "expired":
            not_before, not_after = now - 2 * LEAF_LIFETIME, now - BACKDATE
        elif variant == "not-yet-valid":
            not_before, not_after = now + BACKDATE, now + LEAF_LIFETIME

        key = _new_key()
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.org),
            x509.NameAttribute(NameOID.COMMON_NAME,
                               (san_names or san_ips)[0]),
        ])
        signer_key, signer_cert = self._signer(variant)
        issuer_name = subject if signer_cert is None else signer_cert.subject
        cert = self._build_leaf(
            key, subject, issuer_name, signer_key or key, signer_cert,
            san_names, san_ips, not_before, not_after, crl_url)

        if variant == "revoked":
            self.revoke(cert.serial_number)

        return self._write_leaf(
            names, ips, variant, crl_url, key, cert, signer_cert,
            stem or _stem(names, ips, variant))

    def _signer(self, variant: CertVariant,
                ) -> tuple[ec.EllipticCurvePrivateKey | None,
                           x509.Certificate | None]:
        if variant == "self-signed":
            return None, None
        if variant == "unknown-ca":
            return self._untrusted_ca()
        return self._key, self._cert

    def _build_leaf(
        self, key: ec.EllipticCurvePrivateKey, subject: x509.Name,
        issuer_name: x509.Name, signer_key: ec.EllipticCurvePrivateKey,
        signer_cert: x509.Certificate | None, san_names: list[str],
        san_ips: list[str], not_before: datetime.datetime,
        not_after: datetime.datetime, crl_url: str | None,
    ) -> x509.Certificate:
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in san_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in san_ips]
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            # RFC 6125 6.4.4: clients match names against the SAN only, so
            # every name the host answers to must be here, not just in CN.
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                       ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                critical=False,
            )
        )
        if signer_cert is not None:
            # A self-signed leaf carries no keyUsage: with one lacking
            # keyCertSign, OpenSSL would not see it as its own issuer and
            # would report "unable to get local issuer" instead.
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    signer_key.public_key()),
                critical=False,
            )
        if crl_url:
            builder = builder.add_extension(
                x509.CRLDistributionPoints([
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None, reasons=None, crl_issuer=None,
                    )
                ]),
                critical=False,
            )
        return builder.sign(signer_key, hashes.SHA256())

    def _write_leaf(
        self, names: list[str], ips: list[str], variant: CertVariant,
        crl_url: str | None, key: ec.EllipticCurvePrivateKey,
        cert: x509.Certificate, signer_cert: x509.Certificate | None,
        stem: str,
    ) -> IssuedCert:
        cert_pem, key_pem = _cert_pem(cert), _key_pem(key)
        chain_pem = cert_pem
        if signer_cert is not None:
            chain_pem += _cert_pem(signer_cert)

        stem = _SAFE_STEM.sub("_", stem)
        cert_path = self.directory / f"{stem}.crt"
        key_path = self.directory / f"{stem}.key"
        chain_path = self.directory / f"{stem}-chain.pem"
        _write_public(cert_path, cert_pem)
        _write_secret(key_path, key_pem)
        _write_public(chain_path, chain_pem)

        log.info("issued %s certificate for %s (serial %x)", variant,
                 ", ".join([*names, *ips]), cert.serial_number)
        return IssuedCert(
            names=tuple(names), ips=tuple(ips), variant=variant,
            serial=cert.serial_number,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            crl_url=crl_url, cert_pem=cert_pem, key_pem=key_pem,
            chain_pem=chain_pem, cert_path=cert_path, key_path=key_path,
            chain_path=chain_path,
        )

    def _untrusted_ca(self) -> tuple[ec.EllipticCurvePrivateKey,
                                     x509.Certificate]:
        """A second CA, made on first use, that no lab client trusts."""
        if self._untrusted is None:
            key, cert = _make_ca(self.org, "Untrusted CA")
            _write_public(self.directory / UNTRUSTED_CA_CERT_FILE,
                          _cert_pem(cert))
            _write_secret(self.directory / UNTRUSTED_CA_KEY_FILE,
                          _key_pem(key))
            self._untrusted = (key, cert)
        return self._untrusted

    # -- revocation -----------------------------------------------------

    def revoke(self, cert: IssuedCert | int) -> None:
        """Put a certificate (or a serial number) on the CRL."""
        serial = cert if isinstance(cert, int) else cert.serial
        if serial in self._revoked:
            return

        self._revoked[serial] = _now().replace(microsecond=0)
        lines = [f"{s:x} {t.isoformat()}\n" for s, t in self._revoked.items()]
        (self.directory / REVOKED_FILE).write_text("".join(lines))
        log.info("revoked serial %x", serial)

    def _read_revoked(self) -> dict[int, datetime.datetime]:
        path = self.directory / REVOKED_FILE
        if not path.exists():
            return {}
        revoked: dict[int, datetime.datetime] = {}
        for line in path.read_text().splitlines():
            serial, _, when = line.partition(" ")
            revoked[int(serial, 16)] = datetime.datetime.fromisoformat(when)
        return revoked

    def crl(self) -> x509.CertificateRevocationList:
        """A fresh CRL (RFC 5280 5) listing every revoked serial."""
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._cert.subject)
            .last_update(now - datetime.timedelta(minutes=5))
            .next_update(now + CRL_LIFETIME)
            # RFC 5280 5.2.3: the CRL number must grow; seconds do.
            .add_extension(x509.CRLNumber(int(now.timestamp())),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._key.public_key()),
                critical=False,
            )
        )
        for serial, when in self._revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(when)
                .build()
            )
        return builder.sign(self._key, hashes.SHA256())

    def crl_der(self) -> bytes:
        """The CRL in DER, as served over HTTP (RFC 5280 4.2.1.13)."""
        return self.crl().public_bytes(serialization.Encoding.DER)

    def crl_pem(self) -> bytes:
        return self.crl().public_bytes(serialization.Encoding.PEM)
