"""The intermediate models (one file per model, named as the model)."""
