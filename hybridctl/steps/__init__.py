"""Provisioning steps: each answers "what would change here?" (check) and "make it so" (apply)."""
