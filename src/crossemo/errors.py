"""Exceptions users see.

Every error crossemo raises on purpose derives from :class:`CrossemoError`, so the
command-line layer can print its message without a traceback.
"""


class CrossemoError(Exception):
    """Base class of every error crossemo raises for bad input."""


class CorpusLayoutError(CrossemoError, ValueError):
    """A directory is not laid out as the named corpus (or the manifest is malformed)."""


class ConfigError(CrossemoError, ValueError):
    """A study configuration is malformed or inconsistent with its data."""


class BundleError(CrossemoError, ValueError):
    """A saved model bundle is incomplete, tampered with or incompatible."""
