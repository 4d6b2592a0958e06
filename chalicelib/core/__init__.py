"""The pure core: requests and their rules, what a grant writes into IAM, durations,
commands, the policy types. Nothing here imports AWS, Slack, the web or the file system."""
