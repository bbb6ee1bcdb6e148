"""descriptors stage of navee-monitor."""
