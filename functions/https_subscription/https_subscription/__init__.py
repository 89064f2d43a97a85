"""Custom::HttpsSubscription: subscribe an HTTPS endpoint to an SNS topic, wait for confirmation."""
