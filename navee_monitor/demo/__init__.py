"""demo stage of navee-monitor."""
