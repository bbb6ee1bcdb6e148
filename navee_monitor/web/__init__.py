"""web stage of navee-monitor."""
