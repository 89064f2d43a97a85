"""What the image trusts is pinned: the RDS certificate bundle by its SHA-256, the base image by
digest, and the bundle is where DATABASE_URL's sslrootcert says it is.

The Dockerfile cannot be built here (no container engine), so these tests read it: the same
digest that its `sha256sum -c` line checks at build time must be the committed bundle's.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from bookapp.config import RDS_CA_BUNDLE
from harness.postgres import issue_server_certificate

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
BUNDLE = REPO_ROOT / "app" / "certs" / "rds-global-bundle.pem"
# Regions whose RDS root CAs (RSA2048, RSA4096 and ECC384, G1) the committed bundle must carry.
REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-south-1",
    "sa-east-1",
)

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import rds_ca_bundle  # noqa: E402


def _dockerfile() -> str:
    return DOCKERFILE.read_text()


def test_the_bundle_is_the_one_whose_sha256_the_dockerfile_checks() -> None:
    match = rds_ca_bundle.PIN_PATTERN.search(_dockerfile())
    assert match is not None, "app/Dockerfile has no sha256sum -c line for the bundle"
    assert match.group(2) == hashlib.sha256(BUNDLE.read_bytes()).hexdigest()


def test_the_dockerfile_puts_the_bundle_where_database_url_names_it() -> None:
    copy = re.compile(r"^COPY (?:--\S+ )*certs/rds-global-bundle\.pem (\S+)$", re.MULTILINE)
    copies = copy.findall(_dockerfile())
    assert copies == [RDS_CA_BUNDLE]
    assert f'  {RDS_CA_BUNDLE}" | sha256sum -c -' in _dockerfile()


def test_every_certificate_in_the_bundle_is_a_current_rds_ca() -> None:
    certificates = x509.load_pem_x509_certificates(BUNDLE.read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    assert len(certificates) >= 3 * len(REGIONS)
    for certificate in certificates:
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc
        [unit] = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert unit.value == "Amazon RDS"
    # The checked bundle is what the refresh script would keep of itself.
    assert rds_ca_bundle.checked(BUNDLE.read_bytes()) == BUNDLE.read_bytes()


@pytest.mark.parametrize("region", REGIONS)
def test_the_bundle_holds_the_root_cas_of_the_region(region: str) -> None:
    names = {
        str(c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        for c in x509.load_pem_x509_certificates(BUNDLE.read_bytes())
    }
    for kind in ("RSA2048", "RSA4096", "ECC384"):
        assert f"Amazon RDS {region} Root CA {kind} G1" in names


def test_the_refresh_refuses_a_certificate_that_is_not_an_rds_ca() -> None:
    ca_pem, server_pem, _key = issue_server_certificate()
    with pytest.raises(SystemExit, match="not an RDS certificate"):
        rds_ca_bundle.checked(BUNDLE.read_bytes() + ca_pem)
    with pytest.raises(SystemExit, match="not an RDS certificate"):
        rds_ca_bundle.checked(server_pem)


def test_the_base_image_is_pinned_by_digest() -> None:
    [line] = [line for line in _dockerfile().splitlines() if line.startswith("FROM ")]
    assert re.fullmatch(r"FROM python:3\.13-slim-\w+@sha256:[0-9a-f]{64}", line), line


def test_the_image_installs_only_hashed_binary_packages() -> None:
    [install] = [line for line in _dockerfile().splitlines() if "pip install" in line]
    assert "--require-hashes" in install
    assert "--only-binary=:all:" in install
    assert install.endswith("-r requirements.txt")
