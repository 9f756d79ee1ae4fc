"""Adapters that carry the conversation engine to a platform: Telegram (python-telegram-bot) and a terminal."""
