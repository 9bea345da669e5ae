"""Allocation: who gets the stock on hand, the open PO quantities and approved substitutes.

A pipeline of named steps (pure functions on plain data; I/O only in :mod:`.service`):

``problem`` (frozen input) → ``validate`` (typed errors naming the field) → ``model`` (arcs,
one function per constraint family, objective) → ``solve`` (independent components, HiGHS LP
or MIP, greedy fallback) → ``readback`` (plan, reasons, binding constraints, shadow prices).
``baselines`` holds ``greedy`` and ``fcfs`` on the same objective. Entry point:
:func:`allotment.allocation.solve.solve`.
"""
