"""Custom::JobRun: publish a job to the job topic at deploy time and wait for its result."""
