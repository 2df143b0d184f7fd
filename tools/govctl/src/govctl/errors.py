class StackError(Exception):
    """A problem the user can fix; printed as one line, no traceback (exit status 1)."""


class UsageError(StackError):
    """A bad command-line argument (or environment variable of ./gov): one line, exit status 2, as argparse does."""
