"""Signals of the policy app, for audit hooks only (not business flow)."""

from django.dispatch import Signal

# Sent inside the transaction that activated a policy version: policy=<Policy>, actor=<User or None>.
# kesu.trust records it in the audit chain.
policy_changed = Signal()
