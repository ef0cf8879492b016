class CaptureError(Exception):
    """Input that is not a capture we can read: the CLI says why and exits 2."""
