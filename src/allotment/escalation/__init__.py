"""Escalations: the policy's days-overdue triggers on the backlog (``allotment escalate``)."""
