"""Use cases that orchestrate the domain and the ports."""
