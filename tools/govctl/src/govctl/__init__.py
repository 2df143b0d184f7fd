"""Operator and developer command line: the local stack, migrations, areas, tokens."""
