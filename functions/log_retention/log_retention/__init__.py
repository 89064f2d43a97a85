"""Custom::LogRetention: retention (and optional deletion) for App Runner's own log groups."""
