"""Notifications: an outbox table filled in the sender's transaction, delivered by ``allotment
notify`` to the configured sinks (log file, webhook, SMTP) with retries and a dead-letter state.

Other modules call :func:`allotment.notify.outbox.enqueue` (or its helpers
:func:`~allotment.notify.outbox.notify_eta_change` and
:func:`~allotment.notify.outbox.notify_approval_waiting`) inside their own unit of work; the
notification commits or rolls back with the change it reports.
"""
