"""What the user configured: the project file, variables, sources, engine and output settings."""
