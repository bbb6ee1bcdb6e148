"""The ``navee-monitor`` command line (one module per command group)."""
