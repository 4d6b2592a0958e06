"""Subscribers of the use cases' domain events (the notification port): who hears what, how."""
