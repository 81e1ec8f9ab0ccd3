"""Errors a person running the processes can fix: shown as one line, never as a traceback."""


class ConfigError(Exception):
    """Bad configuration or environment: the message names the problem and the fix."""
