"""The one-command demo: a local platform of a chain, IPFS nodes and mine processes, the data
scientist training on it, and the report (see `pysonar.demo.cli`)."""
