"""The base of the package: errors, names and constants, fault points. Imports nothing of expguard."""
