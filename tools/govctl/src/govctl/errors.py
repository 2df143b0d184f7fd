class StackError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""
