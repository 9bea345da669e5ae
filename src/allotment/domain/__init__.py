"""The domain: facts about customers, supply and backorders, and their lifecycle rules."""
