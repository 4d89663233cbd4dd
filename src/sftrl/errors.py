"""The one exception type for a user's mistake (bad rule, hand, path, parameter).

Raised before any heavy work starts; the command line prints its message as one line and
exits with status 2, so a user never sees a traceback from deep inside a library.
"""


class SftrlError(ValueError):
    """A bad input, named in the message."""
