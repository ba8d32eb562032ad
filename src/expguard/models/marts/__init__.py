"""The marts models (one file per model, named as the model)."""
