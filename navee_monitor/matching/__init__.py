"""matching stage of navee-monitor."""
