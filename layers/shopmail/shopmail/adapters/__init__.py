"""The only code that talks to AWS or the network; each adapter takes its client in ``__init__``."""
