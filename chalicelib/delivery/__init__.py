"""Outbound calls: the outbox that sends what the subscribers stored, and Slack's Web API."""
