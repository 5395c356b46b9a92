"""Errors shown to the user as one line (bad input, not bugs); the CLI exits non-zero on them."""


class UserError(Exception):
    """Shown to the user as one line."""
