"""Business-value simulation: replay the synthetic world under competing allocation policies.

:func:`allotment.simulation.engine.simulate` runs ``fcfs``, ``static-tier`` and ``blend`` (and
two diagnostic variants) on the same random draws per seed and counts, per policy, the money lost
(SLA penalties, margin of cancelled lines, lifetime value of churned customers), the service
(on-time fill rate, days waiting) and the approvals the actions needed
(:mod:`allotment.simulation.ledger`). ``allotment simulate`` is its command.
"""
