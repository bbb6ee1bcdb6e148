"""imaging stage of navee-monitor."""
