"""Scheduled jobs: one APScheduler registry and plain async job functions."""
