"""workbench: load, check, explore and share NGO documentation submitted to an accountability mechanism."""

__version__ = "0.1.0"
