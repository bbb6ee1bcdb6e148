"""reports stage of navee-monitor."""
