"""Tests that render template.yaml offline and assert its wiring, constraints and safety."""
