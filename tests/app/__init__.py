"""Tests of the reference app (bookapp) against a real PostgreSQL and moto's SNS."""
