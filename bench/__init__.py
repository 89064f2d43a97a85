"""`make bench`: the job path and the custom resources' cold start, each beside its floor.

B1 (`bench.b1`) serves the real job endpoint and two bench-only floor endpoints from one uvicorn
process started the way the image starts the app, and drives all three from a second process on
loopback. B2 (`bench.b2`) starts each built Lambda function in a fresh runtime process many times
and times it to the CloudFormation response, beside a floor handler that only makes the same
boto3 clients. Benchmarks report; nothing here fails on a timing.
"""
