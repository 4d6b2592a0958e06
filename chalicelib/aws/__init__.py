"""Adapters to AWS: the DynamoDB store, the IAM gateway, the locked role writer, clients."""
