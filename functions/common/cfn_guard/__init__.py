"""The request guard every custom-resource function of this stack runs before it acts.

`guard` (pure) and `serve` (crhelper) hold the guard. The layer also carries what the functions
would otherwise each repeat: `settings` (LOG_LEVEL, quiet loggers, bounded retries; no crhelper,
so the rotation follower uses it too), `resource` (crhelper's CfnResource as every custom resource
here builds it) and `aws` (ARN patterns and AWS error codes). Import the module you need: this
package imports nothing itself, so the rotation follower does not load the guard.
"""
