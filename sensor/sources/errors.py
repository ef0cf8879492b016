class CaptureError(Exception):
    """Input that is not a capture we can read: the CLI says why and exits 2."""


class NotACapture(CaptureError):
    """A file whose first bytes are no capture's (nor a compressed one's)."""
