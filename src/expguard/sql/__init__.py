"""SQL helpers shared by every layer that renders SQL: variables bound as literals, dialect fix-ups."""
