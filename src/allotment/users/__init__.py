"""Users of the service: principals with one role each, passwords and API keys."""
