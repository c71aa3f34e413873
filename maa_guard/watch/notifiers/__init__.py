"""The channels a ``[[notify]]`` receiver can use, registered by name: one module each.

Imports the watch's message model, ``errors``, the snapshot codec and ``reporters.text``.
"""

from __future__ import annotations

import enum

from maa_guard.watch.notifiers import mail, slack, teams, webhook
from maa_guard.watch.notifiers.base import ChannelSpec, Notifier, Outcome, SendResult


class Channel(str, enum.Enum):
    TEAMS = "teams"
    SLACK = "slack"
    WEBHOOK = "webhook"
    EMAIL = "email"


CHANNELS: dict[Channel, ChannelSpec] = {
    Channel.TEAMS: teams.SPEC,
    Channel.SLACK: slack.SPEC,
    Channel.WEBHOOK: webhook.SPEC,
    Channel.EMAIL: mail.SPEC,
}

__all__ = ["CHANNELS", "Channel", "ChannelSpec", "Notifier", "Outcome", "SendResult"]
