"""index stage of navee-monitor."""
