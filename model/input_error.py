"""The error of the model commands' bad inputs (flags, data files, settings)."""


class InputError(Exception):
    """A bad command-line input or data file: reported in one line, exit status 2."""
