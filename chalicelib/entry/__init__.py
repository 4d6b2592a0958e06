"""Entry adapters: turn an inbound Slack request into one use-case call and an answer."""
