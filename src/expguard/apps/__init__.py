"""Applications built on the models: alerts, report, diagnose, demo."""
