"""alerts stage of navee-monitor."""
