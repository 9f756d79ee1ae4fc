"""The victim's conversation: a pure engine, content catalogues and adapters (Telegram, terminal)."""
