"""The demo's words: comments in staff's own words (tied to a theme, or general) and kudos.
No names."""

from __future__ import annotations

from surveys import recognition

# Comments in staff's own words: "theme + favourable" or "theme - unfavourable".  No names.
_COMMENT_LINES = """
vision_values + Patient care really does come first here.
vision_values + Proud of the care we give on this unit.
vision_values - The trust priorities feel far removed from the ward floor.
vision_values - Hard to see how the big plans connect to what we do day to day.
goals_performance + Clear handovers and we all know what the shift needs.
goals_performance + Good feedback at my appraisal, it helped.
goals_performance - Appraisal was rushed and I still don't have clear objectives.
goals_performance - We never get time to talk about how the team is doing.
support_compassion + My manager always makes time to listen.
support_compassion + People here are kind to each other.
support_compassion - Concerns get noted but nothing happens.
support_compassion - Feels like nobody has time to check in.
learning_innovation + Great teaching sessions this month.
learning_innovation + Got support to go on the course I wanted.
learning_innovation - Training keeps getting cancelled because of staffing.
learning_innovation - Hard to get study time approved.
equity_inclusion + Everyone is treated with respect on this team.
equity_inclusion + Really welcoming to new starters.
equity_inclusion - Progression feels like it depends on who you know.
equity_inclusion - Some comments at handover were not okay.
teamwork + The morning huddle has made a real difference.
teamwork + Great teamwork on a very busy shift.
teamwork + We cover for each other without being asked.
teamwork - Feels like we are working in silos.
teamwork - Tension between day and night shifts again.
health_wellbeing + Good to have the wellbeing room back.
health_wellbeing + Rota this month has been much fairer.
health_wellbeing - Exhausted, we were short staffed all week.
health_wellbeing - No breaks on most shifts this week.
health_wellbeing - Too many extra shifts, I am running on empty.
voice_involvement + My suggestion about the drug round was taken up.
voice_involvement + We were asked before the rota changed.
voice_involvement - Changes are announced, never discussed.
voice_involvement - No one asked us about the new layout.
speaking_up + I felt safe raising a concern and it was handled well.
speaking_up + Incidents are treated fairly here.
speaking_up - People worry about being blamed when things go wrong.
speaking_up - I raised a safety issue weeks ago and heard nothing back.
valued_recognised + Thank you cards from the manager mean a lot.
valued_recognised + Feel appreciated by the team.
valued_recognised - Nobody notices the extra effort.
valued_recognised - Feel like a number, not a person.
freedom_from_bullying + Bad behaviour gets challenged here.
freedom_from_bullying + A respectful team to work in.
freedom_from_bullying - Verbal abuse from relatives is getting worse.
freedom_from_bullying - Some rude behaviour goes unchallenged.
"""

# Comments about a card as a whole (shown under "General"): "+ favourable" or "- unfavourable".
_GENERAL_LINES = """
+ Good month overall, the team feels settled.
+ Really enjoy working here, even on the hard days.
+ Things feel better than they did at the start of the year.
+ Busy but well run, and people look out for each other.
+ Good to be asked how things are going.
+ A good place to work, I would recommend it to a friend.
+ Tiring but rewarding, I am proud of this team.
+ Feels like we are finally getting on top of things.
+ Small things are improving and it shows.
+ Happy here overall, the people make it.
- Everything feels stretched at the moment.
- Hard few weeks, morale is low.
- We keep being asked for feedback but nothing seems to change.
- Too much paperwork and not enough time with patients.
- Staffing is behind most of our problems.
- Feels like we are just getting through each shift.
- Not sure anyone above the ward reads these.
- Some weeks are fine, others are a real struggle.
- Too many changes at once, it is hard to keep up.
- Could be a great place to work with a few more staff.
"""

# Kudos: "value: message" (values are keys of recognition.DEFAULT_VALUES).  No names.
_KUDOS_LINES = """
teamwork: Thanks for covering the night shift at such short notice.
compassion: Brilliant calm handling of a very distressed relative today.
learning: Thank you for teaching me the new syringe driver, so patient with my questions.
recognised: Stayed late to make sure the discharge went smoothly. Above and beyond.
voice: Thanks for speaking up at the safety huddle, it made us all stop and check.
flexible: Swapped shifts so I could be at my daughter's school play. Thank you!
safe: Spotted the deteriorating patient early and escalated perfectly.
safe: Made sure everyone took a break during a really tough shift.
teamwork: Amazing support for our new starters this week.
compassion: Thank you for the kindness you showed a patient at end of life.
teamwork: Turned round the urgent discharge meds in record time.
learning: Great teaching session on sepsis, really clear.
voice: Thanks for listening and acting on our rota concerns.
teamwork: Kept the whole team laughing through a horrible night.
flexible: Helped me find a flexible pattern that works around my caring role.
compassion: Thank you for checking in on me after a difficult shift.
recognised: Fantastic work getting the audit finished on time.
teamwork: Thanks for jumping on the bank shift when we were two down.
safe: Challenged a rude comment on the ward, respect.
recognised: Brought in cake after a long week, morale boost!
voice: Your idea for the new handover sheet has saved us so much time.
compassion: Patient and clear explanation to a worried family.
learning: Thanks for mentoring our student nurses so well.
teamwork: Jumped in to help on our ward when we were short staffed.
compassion: Thank you for always making new colleagues feel welcome.
"""


def comments() -> dict[str, tuple[list[str], list[str]]]:
    """Theme -> (favourable comments, unfavourable comments)."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for line in _COMMENT_LINES.strip().splitlines():
        theme, sign, text = line.split(" ", 2)
        good, bad = found.setdefault(theme, ([], []))
        (good if sign == "+" else bad).append(text)
    return found


def general_comments() -> tuple[list[str], list[str]]:
    """(favourable general comments, unfavourable general comments)."""
    good: list[str] = []
    bad: list[str] = []
    for line in _GENERAL_LINES.strip().splitlines():
        sign, text = line.split(" ", 1)
        (good if sign == "+" else bad).append(text)
    return good, bad


def kudos_messages() -> list[tuple[str, str]]:
    """(message, value) pairs."""
    pairs = []
    for line in _KUDOS_LINES.strip().splitlines():
        value, message = line.split(": ", 1)
        if value not in recognition.DEFAULT_VALUES:
            raise ValueError(f"unknown kudos value in demo data: {value}")
        pairs.append((message, value))
    return pairs
