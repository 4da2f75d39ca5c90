"""Domain exceptions shared by the StarPunk application."""


class StarPunkError(Exception):
    """Base class for errors StarPunk reports to its operator or users."""


class ConfigError(StarPunkError, ValueError):
    """A configuration value is missing or malformed."""


class InvalidInput(StarPunkError, ValueError):
    """A request parameter or submitted value is not acceptable."""


class NotFound(StarPunkError, LookupError):
    """The requested note or record does not exist."""


class Gone(NotFound):
    """The requested note existed but has been deleted."""


class Unauthorized(StarPunkError):
    """The request carries no valid credentials."""


class InsufficientScope(StarPunkError):
    """The credentials are valid but do not allow this action."""
