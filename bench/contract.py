"""What the bench server (`bench.served`) and its driver (`bench.b1`) agree on; no app imports."""

from __future__ import annotations

FLOOR_A_PATH = "/bench/floor-a"
FLOOR_B_PATH = "/bench/floor-b"
NOOP_JOB = "bench_noop"
RECEIPTS_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_receipts ("
    "message_id text PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now())"
)

# The third-party SNS validator B1 compares bookapp's verifier with (its own virtualenv).
VALIDATOR_DISTRIBUTION = "aws-sns-verifier"
VALIDATOR_VERSION = "0.1.14"
