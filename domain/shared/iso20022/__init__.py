"""ISO 20022 messages read by more than one context."""
