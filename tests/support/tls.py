"""The TLS part of a DATABASE_URL the app accepts over TCP, for tests that only parse settings."""

from __future__ import annotations

from pathlib import Path

# The committed bundle stands in for the image's /app/certs/rds-global-bundle.pem.
BUNDLE = Path(__file__).resolve().parents[2] / "app" / "certs" / "rds-global-bundle.pem"
TLS = f"sslmode=verify-full&sslrootcert={BUNDLE}"
