"""The help text: every command, in the same words on every platform.  ``{platform}`` is where a
platform's own words go (lines of the same shape, given by its adapter; empty elsewhere)."""

HELP = """\
*teampulse* — anonymous pulse check-ins, kudos and team trends.

*Everyone*
• `pulse` — show the pulse waiting for you (if any)
• `kudos @name [@name…] what they did #value` — celebrate a colleague; values: {values}
• `pulse status` — your open pulses and your teams
• `pulse me` — when pulses reach you: `pulse me nights` (or `days`), \
`pulse me quiet 22:00-07:00`, `pulse me away until 12 Dec`, `pulse me back`
• `pulse help` — this message

*Managers*
• `pulse trends [team] [weeks]` — theme scores, change vs the period before, participation, \
comments and kudos, with a chart (default: your team, {weeks} weeks)
• `pulse send [team]` — send a pulse to your team now
• `pulse settings [team]` — show the schedule; `pulse settings [team] questions 4`, \
`… day tue`, `… time 09:30`, `… cadence monthly`, `… timezone Europe/London`, `… length 5` \
to change it
{platform}
*Anonymity*: answers are stored with no link to you and shown only for groups of at least \
{k} people, after the pulse closes. Nobody, including your manager, can see who answered.\
"""
