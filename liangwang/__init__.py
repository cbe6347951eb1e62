"""liangwang-assist application core: settings, database, domain services, operator CLI."""
