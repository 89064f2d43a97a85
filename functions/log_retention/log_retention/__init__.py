"""Custom::LogRetention: retention for the log groups AWS services create for the stack's
resources (App Runner services, the Aurora cluster), and their deletion if asked."""
