"""Helpers shared by the test suites: event files, CloudFormation response capture, Lambda context."""
