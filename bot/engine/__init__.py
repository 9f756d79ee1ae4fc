"""The pure conversation engine: states, events, turns and the Signposter port it talks to."""

from bot.engine.engine import (
    Button,
    Engine,
    Outgoing,
    ServiceCard,
    SignpostingOutcome,
    StrandNames,
    Turn,
)
from bot.engine.events import Choice, Command, Event, SharedLocation, Text, Unsupported, parse_command
from bot.engine.model import NOTE_STATES, Conversation, Language, State
from bot.engine.ports import Route, Signposter
from bot.engine.urgency import Urgency, assess, looks_urgent

__all__ = [
    "NOTE_STATES",
    "Button",
    "Choice",
    "Command",
    "Conversation",
    "Engine",
    "Event",
    "Language",
    "Outgoing",
    "Route",
    "ServiceCard",
    "SharedLocation",
    "Signposter",
    "SignpostingOutcome",
    "State",
    "StrandNames",
    "Text",
    "Turn",
    "Unsupported",
    "Urgency",
    "assess",
    "looks_urgent",
    "parse_command",
]
