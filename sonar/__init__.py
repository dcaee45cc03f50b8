"""Sonar: the ModelRepository contract, the local chain it runs on, and its Python client."""
