"""Domain exceptions shared by the StarPunk application."""


class StarPunkError(Exception):
    """Base class for errors StarPunk reports to its operator or users."""


class ConfigError(StarPunkError, ValueError):
    """A configuration value is missing or malformed."""
