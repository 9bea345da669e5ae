"""Recommended actions for backorders the allocation cannot resolve in time, valued and routed."""
