"""service stage of navee-monitor."""
