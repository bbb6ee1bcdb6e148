"""training stage of navee-monitor."""
