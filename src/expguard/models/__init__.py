"""The models, SQL and Python, one file each in the layer folders; their registry and compilation."""
