"""imaging stage of navee-monitor: safe decoding of untrusted image bytes.

Light to import (Pillow and NumPy only); see :mod:`navee_monitor.imaging.decode`.
"""

from navee_monitor.imaging.decode import ImageInfo, decode_image, load_image, probe_image

__all__ = ["ImageInfo", "decode_image", "load_image", "probe_image"]
