"""Shanghai's 16 districts and every way people name them (黄浦, 浦东, 老闸北 …): the one
place the district names and their short forms are written."""

from __future__ import annotations

from functools import cache

from liangwang.sounds import normalize, readings, syllables

DISTRICTS = (
    "黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区",
    "宝山区", "嘉定区", "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区",
)  # fmt: skip

# Names people still use for districts that were merged or renamed.
FORMER_NAMES = {"闸北": "静安区", "卢湾": "黄浦区", "南汇": "浦东新区", "浦东": "浦东新区"}


# The endings of official district names: 浦东新区, 静安区.
NEW_DISTRICT_SUFFIX = "新区"
DISTRICT_SUFFIX = "区"


def short_name(district: str) -> str:
    """What people usually say: 静安 for 静安区, 浦东 for 浦东新区."""
    return district.removesuffix(NEW_DISTRICT_SUFFIX).removesuffix(DISTRICT_SUFFIX)


def district_names() -> dict[str, str]:
    """Every way of naming a district (official, short, former) → the official name."""
    names: dict[str, str] = {}
    for district in DISTRICTS:
        names[district] = district
        names[short_name(district)] = district
    names.update(FORMER_NAMES)
    return names


def parse_district(text: str, *, by_sound: bool = False) -> str | None:
    """The official district named in ``text``, or None. With ``by_sound`` — for the
    answer to "哪个区？", where a district is what was said — a name the recogniser wrote
    as a homophone counts too (黄埔 for 黄浦, 闵航 for 闵行); in any other sentence a
    sound-alike is too likely a different word (风险 sounds like 奉贤)."""
    for district in DISTRICTS:
        if district in text or short_name(district) in text:
            return district
    for former, district in FORMER_NAMES.items():
        if former in text:
            return district
    return _district_by_sound(text) if by_sound else None


@cache
def _district_readings() -> dict[tuple[str, ...], str]:
    """Each reading of each short and former name → the official district."""
    names = {short_name(d): d for d in DISTRICTS} | FORMER_NAMES
    return {reading: district for name, district in names.items() for reading in readings(name)}


def _district_by_sound(text: str) -> str | None:
    heard = syllables(normalize(text))
    for size in (3, 2):  # names are two or three syllables; the longer match first
        for start in range(len(heard) - size + 1):
            district = _district_readings().get(heard[start : start + size])
            if district:
                return district
    return None
