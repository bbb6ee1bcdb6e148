"""evaluation stage of navee-monitor."""
