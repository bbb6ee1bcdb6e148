"""detect stage of navee-monitor."""
