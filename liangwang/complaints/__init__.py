"""一网统管 complaints: categories, tickets and their closed loop, spoken numbers."""
