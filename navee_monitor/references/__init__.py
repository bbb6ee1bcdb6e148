"""references stage of navee-monitor."""
