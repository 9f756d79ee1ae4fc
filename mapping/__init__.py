"""Geography and spatial work: places, areas, coverage geometry, signposting and coverage-gap analysis.

Pure: no database, no Telegram, no scheduler (tests/test_architecture.py checks).
"""
