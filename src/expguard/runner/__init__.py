"""The run: inputs checked, models built in order, outputs published."""
