"""The `aduan` command line, one module per command group."""
