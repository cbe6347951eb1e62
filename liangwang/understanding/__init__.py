"""Reading what people say as they really speak: clauses, misheard names, everyday words."""
