"""Staff accounts, their roles and sign-in sessions, and the audit of what they did."""
