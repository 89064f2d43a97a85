"""bookapp: the reference workload for the stack, a small book API whose background jobs arrive
as SNS pushes.

Run it with `python -m bookapp serve | migrate | publish-job NAME [--payload JSON]`; see
the README, "The reference app: bookapp".
"""

__version__ = "1.0.0"
