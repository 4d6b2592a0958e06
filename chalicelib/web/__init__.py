"""The review page: HTML, browser sessions, and Sign in with Slack (OpenID Connect)."""
