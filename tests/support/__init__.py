"""Helpers shared by the test suites: event files, CloudFormation responses, Lambda context."""
