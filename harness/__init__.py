"""Local stand-ins (PostgreSQL, SNS signing) shared by the tests, the demo and the benchmarks."""
