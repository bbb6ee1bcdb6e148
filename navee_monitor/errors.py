"""The one error hierarchy of navee-monitor.

Every error a user can act on derives from :class:`NaveeError`. Third-party
exceptions are translated where they enter our code (``raise ... from exc``)
so that the command line can print one clear line and exit with the status
the error carries, without a traceback.

    NaveeError                      base; exit status 1
    ├── UsageError                  bad command-line use; exit 2
    │   └── NotFoundError           no such alert/reference id; exit 2
    ├── ConfigError                 invalid configuration; exit 2
    ├── StorageError                database or data-directory problem
    ├── InputError                  one input cannot be used; exit 3
    │   ├── FetchError              a URL could not be fetched
    │   └── ImageError              bytes are not a usable image
    │       ├── NotAnImageError     HTML, text, zero bytes...
    │       ├── CorruptImageError   truncated or damaged file
    │       ├── UnsupportedFormatError
    │       └── ImageTooLargeError  byte or pixel limit, decompression bomb
    ├── ModelError                  model weights missing, mixed model versions
    ├── IndexError_                 vector index problem (name avoids the builtin)
    ├── CrawlError                  a crawl could not run
    └── NotificationError           a notifier could not deliver (retried later)
"""

from __future__ import annotations


class NaveeError(Exception):
    """Base of every error navee-monitor raises on purpose."""

    exit_code = 1


class UsageError(NaveeError):
    exit_code = 2


class NotFoundError(UsageError):
    """An id or key given by the user names nothing (``alerts show 999``)."""


class ConfigError(NaveeError):
    exit_code = 2


class StorageError(NaveeError):
    exit_code = 1


class InputError(NaveeError):
    exit_code = 3

    #: short machine-readable reason, stored on rows (e.g. ``http_404``)
    reason = "input_error"


class FetchError(InputError):
    reason = "fetch_error"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        if reason:
            self.reason = reason


class ImageError(InputError):
    reason = "image_error"


class NotAnImageError(ImageError):
    reason = "not_an_image"


class CorruptImageError(ImageError):
    reason = "corrupt"


class UnsupportedFormatError(ImageError):
    reason = "unsupported_format"


class ImageTooLargeError(ImageError):
    reason = "too_large"


class ModelError(NaveeError):
    exit_code = 1


class IndexError_(NaveeError):  # noqa: N801 - avoid shadowing the builtin IndexError
    exit_code = 1


class CrawlError(NaveeError):
    exit_code = 1


class NotificationError(NaveeError):
    """A notification could not be delivered; the outbox retries it with backoff."""

    exit_code = 1
