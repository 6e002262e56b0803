"""The error of a run that cannot start or go on."""


class ConfigError(ValueError):
    """A run that cannot start; str(e) tells the user what to change."""
