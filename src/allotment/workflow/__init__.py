"""Workflow flows driven by status: the recommendation approval chain and its execution."""
