"""The ``shopmail`` command-line tool."""
