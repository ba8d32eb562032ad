"""The staging models (one file per model, named as the model)."""
