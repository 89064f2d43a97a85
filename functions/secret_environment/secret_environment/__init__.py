"""Custom::SecretEnvironment: Secrets Manager values resolved into App Runner environment variables.

`handler` is the Lambda entry point (crhelper wiring), `core` the pure rules (properties, templates,
URL encoding, fingerprint, response size) and `secrets_manager` the few Secrets Manager calls.
"""
