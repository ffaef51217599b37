"""The one exception the daemon ends on for a problem the user can fix: its own module, so
that the start-up checks, the journal directory's claim and the daemon raise the same one
without importing each other."""


class DaemonError(Exception):
    """A problem the user can fix (bad key, unreachable venue, unknown symbol): one line."""
