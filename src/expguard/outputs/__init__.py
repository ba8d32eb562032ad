"""Publishing a run's outputs (staged, atomic, locked) and reading an earlier run's."""
