"""Deferrable sensors: rate-limit windows and data freshness."""
