"""Reading the inputs: the canonical views over the user's sources, and the input contracts."""
