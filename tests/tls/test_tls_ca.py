"""The lab CA on disk: files, modes, extensions, the CRL, reloading."""

from __future__ import annotations

import datetime
import ipaddress
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from lab.tls import CERT_VARIANTS, LabCA

HOST = "mail.contoso.test"
CRL_URL = "http://crl.contoso.test/lab.crl"
TIMEOUT = 10


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_ca_pem_and_private_key(lab_ca: LabCA) -> None:
    ca = x509.load_pem_x509_certificate(lab_ca.ca_path.read_bytes())

    assert lab_ca.ca_path.name == "ca.pem"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value \
        == "Contoso"
    assert _mode(lab_ca.directory / "ca.key") == 0o600


def test_issue_writes_files_with_sans(lab_ca: LabCA) -> None:
    issued = lab_ca.issue([HOST, "contoso.test"], ["127.0.0.1", "::1"])
    cert = x509.load_pem_x509_certificate(issued.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)

    assert san.value.get_values_for_type(x509.DNSName) == [HOST, "contoso.test"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert cert.issuer == lab_ca.certificate.subject
    assert issued.cert_path.read_bytes() == issued.cert_pem
    assert issued.key_path.read_bytes() == issued.key_pem
    assert issued.chain_pem == issued.cert_pem + lab_ca.ca_pem
    assert _mode(issued.key_path) == 0o600


def test_everything_stays_in_the_lab_directory(tmp_path: Path) -> None:
    directory = tmp_path / "lab" / "tls"
    ca = LabCA.create(directory, "Contoso")
    for variant in CERT_VARIANTS:
        ca.issue([HOST], ["127.0.0.1"], variant=variant)

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    assert all(p.parent == directory for p in written)
    keys = [p for p in written if p.suffix == ".key"]
    assert len(keys) == len(CERT_VARIANTS) + 2  # + lab CA + untrusted CA
    assert all(_mode(p) == 0o600 for p in keys)


def test_crl_distribution_point_names_the_url(lab_ca: LabCA) -> None:
    issued = lab_ca.issue([HOST], crl_url=CRL_URL)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    dp = cert.extensions.get_extension_for_oid(
        ExtensionOID.CRL_DISTRIBUTION_POINTS).value

    assert [n.value for n in dp[0].full_name] == [CRL_URL]
    text = subprocess.run(
        ["openssl", "x509", "-in", str(issued.cert_path), "-noout", "-text"],
        capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
    assert f"URI:{CRL_URL}" in text


def test_no_crl_url_means_no_distribution_point(lab_ca: LabCA) -> None:
    cert = x509.load_pem_x509_certificate(lab_ca.issue([HOST]).cert_pem)

    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)


@pytest.mark.parametrize(
    ("variant", "before", "after"),
    [("good", -1, +1), ("expired", -1, -1), ("not-yet-valid", +1, +1)],
)
def test_validity_windows(lab_ca: LabCA, variant: str, before: int,
                          after: int) -> None:
    issued = lab_ca.issue([HOST], variant=variant)  # type: ignore[arg-type]
    now = datetime.datetime.now(datetime.timezone.utc)

    assert (issued.not_before > now) == (before > 0)
    assert (issued.not_after > now) == (after > 0)


def test_name_mismatch_is_issued_for_another_name(lab_ca: LabCA) -> None:
    issued = lab_ca.issue([HOST], ["127.0.0.1"], variant="name-mismatch")
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)

    assert HOST not in san.value.get_values_for_type(x509.DNSName)
    assert san.value.get_values_for_type(x509.IPAddress) == []


def test_self_signed_and_unknown_ca_issuers(lab_ca: LabCA) -> None:
    own = x509.load_pem_x509_certificate(
        lab_ca.issue([HOST], variant="self-signed").cert_pem)
    rogue = x509.load_pem_x509_certificate(
        lab_ca.issue([HOST], variant="unknown-ca").cert_pem)

    assert own.issuer == own.subject
    assert rogue.issuer != lab_ca.certificate.subject
    assert rogue.issuer != rogue.subject


def test_unknown_variant_is_refused(lab_ca: LabCA) -> None:
    with pytest.raises(ValueError, match="variant"):
        lab_ca.issue([HOST], variant="bogus")  # type: ignore[arg-type]


def test_openssl_parses_the_crl(lab_ca: LabCA, tmp_path: Path) -> None:
    revoked = lab_ca.issue([HOST], variant="revoked")
    crl_file = tmp_path / "lab.crl"
    crl_file.write_bytes(lab_ca.crl_der())

    result = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl_file), "-noout",
         "-text", "-CAfile", str(lab_ca.ca_path)],
        capture_output=True, text=True, timeout=TIMEOUT, check=True)

    assert "verify OK" in result.stderr + result.stdout
    assert "CN = Contoso Lab CA" in result.stdout
    assert f"{revoked.serial:X}" in result.stdout.replace(":", "")


def test_revoked_certificate_fails_crl_check(lab_ca: LabCA,
                                             tmp_path: Path) -> None:
    good = lab_ca.issue([HOST])
    revoked = lab_ca.issue([HOST], variant="revoked")
    crl_pem = tmp_path / "lab-crl.pem"
    crl_pem.write_bytes(lab_ca.crl_pem())

    def verify(cert: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "verify", "-crl_check", "-CRLfile", str(crl_pem),
             "-CAfile", str(lab_ca.ca_path), str(cert)],
            capture_output=True, text=True, timeout=TIMEOUT)

    assert verify(good.cert_path).returncode == 0
    bad = verify(revoked.cert_path)
    assert bad.returncode != 0
    assert "certificate revoked" in bad.stdout + bad.stderr


def test_load_reopens_the_same_ca(lab_ca: LabCA) -> None:
    revoked = lab_ca.issue([HOST], variant="revoked")
    again = LabCA.load(lab_ca.directory)
    issued = again.issue([HOST], stem="reloaded")
    cert = x509.load_pem_x509_certificate(issued.cert_pem)

    assert again.ca_pem == lab_ca.ca_pem
    assert again.org == "Contoso"
    assert cert.issuer == lab_ca.certificate.subject
    crl = x509.load_der_x509_crl(again.crl_der())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial)
    assert issued.cert_path.name == "reloaded.crt"
