"""The demo trust: Riverside NHS Trust (demo), its board, three directorates and eight
ward/department teams, by people's names (``demo_spec``).  Every address is at ``DOMAIN``."""

from __future__ import annotations

from dataclasses import dataclass

from surveys.organisation import OrgSpec, PersonSpec, ScheduleSpec, TeamSpec

ORGANISATION = "Riverside NHS Trust (demo)"
DOMAIN = "riverside-demo.nhs.uk"
TRUST = "Riverside Trust"

# The people to try in the web chat (and to name in the docs).
DEMO_NURSE = f"amara.okafor@{DOMAIN}"  # a nurse on Ward 7 Respiratory
DEMO_MANAGER = f"daniel.hughes@{DOMAIN}"  # manages Ward 7 Respiratory
DEMO_DIRECTOR = f"priya.shah@{DOMAIN}"  # Director of Medicine (Wards 7 and 9, Emergency Dept)


@dataclass(frozen=True)
class _Unit:
    """A team in the demo trust, by people's names."""

    name: str
    parent: str | None
    managers: tuple[str, ...]
    members: tuple[str, ...] = ()


def _ward(name: str, parent: str, manager: str, staff: str) -> _Unit:
    """A ward or department: its manager answers pulses too, so is also listed as a member."""
    return _Unit(name, parent, (manager,), (*staff.split(", "), manager))


_BOARD = _Unit(TRUST, None, ("Margaret Ellis", "Kwame Mensah"))
_DIRECTORATES = (
    _Unit("Medicine", TRUST, ("Priya Shah",)),
    _Unit("Surgery", TRUST, ("Robert Campbell",)),
    _Unit("Clinical Support", TRUST, ("Fatima Begum",)),
)
# fmt: off
WARDS = (
    _ward("Ward 7 Respiratory", "Medicine", "Daniel Hughes",
          "Amara Okafor, Tom Gallagher, Grace Adeyemi, Rhys Morgan, Mei Lin Chen, Joseph Mwangi, "
          "Hannah Price, Maria Santos"),
    _ward("Ward 9 Elderly Care", "Medicine", "Sarah Thompson",
          "Olivia Bennett, Nkechi Eze, Aled Jones, Jasmine Kaur, Liam O'Connor, Beatriz Silva, "
          "Samuel Osei"),
    _ward("Emergency Department", "Medicine", "Imran Qureshi",
          "Chloe Walsh, Marcus Reid, Aisha Rahman, Ewan MacLeod, Sophie Turner, Tunde Bakare, "
          "Niamh Byrne, Rajesh Patel"),
    _ward("Theatres", "Surgery", "Helen Carter",
          "Oliver Wright, Yusuf Ali, Lucy Davies, Gareth Evans, Abena Asante, Kieran Doyle, "
          "Ana Popescu, Wei Zhang, Charlotte Green"),
    _ward("Ward 12 Orthopaedics", "Surgery", "Mark Robinson",
          "Emily Clarke, Faisal Hussain, Bethany Lewis, Chidi Nwosu, Katarzyna Nowak, Jack Murphy"),
    _ward("Pharmacy", "Clinical Support", "Anjali Mehta",
          "Adam Fletcher, Zainab Ahmed, Ruth Harrison, Dev Sharma, Laura McKenzie"),
    _ward("Radiology", "Clinical Support", "Stephen Parry",
          "Nadia Hassan, Ben Cooper, Ifeoma Obi, Claire Watson, Arjun Nair"),
    # Fewer members than the anonymity threshold: reported only as part of Clinical Support.
    _ward("Physiotherapy", "Clinical Support", "Rebecca Hall",
          "Kofi Boateng, Megan Phillips, Tariq Mahmood"),
)
# fmt: on
WARD_TEAMS: tuple[str, ...] = tuple(unit.name for unit in WARDS)


def email_of(name: str) -> str:
    """``Liam O'Connor`` -> ``liam.oconnor@riverside-demo.nhs.uk``."""
    parts = ["".join(ch for ch in part.lower() if ch.isalnum()) for part in name.split()]
    return f"{parts[0]}.{''.join(parts[1:])}@{DOMAIN}"


def demo_spec() -> OrgSpec:
    """Riverside NHS Trust (demo): board, three directorates and eight ward/department teams."""
    units = (_BOARD, *_DIRECTORATES, *WARDS)
    names: list[str] = ["Amara Okafor", "Daniel Hughes", "Priya Shah"]  # the picker's first three
    for unit in units:
        names.extend(name for name in (*unit.managers, *unit.members) if name not in names)
    schedule = ScheduleSpec(cadence="weekly", day="mon", time="10:00", timezone="Europe/London")
    teams = [
        TeamSpec(
            name=unit.name,
            parent=unit.parent,
            managers=[email_of(name) for name in unit.managers],
            members=[email_of(name) for name in unit.members],
            channel=None,  # no platform channels: the local web chat keeps a feed per team
            schedule=schedule if unit.members else None,
            # Five statements a week, so each theme comes round every two or three weeks.
            questions_per_pulse=5,
        )
        for unit in units
    ]
    people = [PersonSpec(email=email_of(name), name=name) for name in names]
    return OrgSpec(name=ORGANISATION, teams=teams, people=people)
