"""Outreach: the customers to call first, why, and what to tell them."""
