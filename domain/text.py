"""Reading what people write: Chinese segmentation, visible text, places named in the text.

Segmentation is jieba's dictionary segmenter with its packaged dictionary (its common words,
see DICTIONARY_MIN_FREQ) and nothing added, so the same text always gives the same words for a
pinned jieba: workflow code may use it. The dictionary is read once per process, on first use
(the worker does it at start: about 0.3 s, ~8 MB).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import sys
import types
import unicodedata
from functools import lru_cache

# jieba imports its HMM for unknown words (jieba.finalseg: ~70 MB of probability tables) when
# it is imported. We always cut with HMM=False (measured on the labelled set: the same or
# better figures), so an empty module stands in for it unless someone loaded it already.
sys.modules.setdefault("jieba.finalseg", types.ModuleType("jieba.finalseg"))
import jieba

jieba.setLogLevel(logging.WARNING)

_CN_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_NUM = r"(\d+|[零一二两三四五六七八九十百]+)"
# 6栋, 六号楼 (not 一栋楼 / 两栋楼, a count of buildings); 3号院 is a courtyard of its own.
_BUILDING = re.compile(
    r"(?<![A-Za-z\d])" + _NUM + r"\s*(?:栋|幢|号楼|座|号门栋)(?!楼)"
    r"|(?<![A-Za-z\d])(\d+|[三四五六七八九十百]+)\s*栋(?=楼)"
)
_COURTYARD = re.compile(r"(?<![A-Za-z\d])" + _NUM + r"\s*号院")
_UNIT = re.compile(_NUM + r"\s*(?:栋|幢|号楼|座)\s*" + _NUM + r"\s*单元")
_LETTER_BUILDING = re.compile(r"(?<![A-Za-z])([A-Za-z])\s*(\d+)\s*(?:栋|幢|号楼|座)")
# A building field as residents fill it in: '6', '6栋', '六号楼', 'B6', 'b7栋'.
_BUILDING_FIELD = re.compile(r"^\s*(?:([A-Za-z])\s*)?" + _NUM + r"\s*(?:栋|幢|号楼|号|座)?\s*$")
_HOUSE = re.compile(r"([\u4e00-\u9fff]{1,8}?(?:大街|街|路|道|巷|里|弄))\s*" + _NUM + r"\s*号")
# Words that come before a street name in speech (我家在汉正街857号): cut off the name.
_BEFORE_STREET = re.compile("^.*[在的家住是到了我你他她和与对旁边近]")
_PLACEHOLDERS = frozenset(
    {
        "无",
        "没有",
        "不知道",
        "不详",
        "未知",
        "暂无",
        "不清楚",
        "-",
        "--",
        "/",
        "n/a",
        "na",
        "none",
        "null",
        "0",
    }
)
# Characters that render as nothing (zero-width, BOM, word joiner) and variation selectors.
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\ufe00-\ufe0f]")
_FILLER = (
    "的 了 很 都 我 我们 你 你们 他 她 它 们 吗 呢 啊 吧 呀 是 在 有 和 与 就 也 还 又 请 麻烦 一下 "
    "能 能不能 可以 怎么 怎么办 什么 谢谢 好 好几 几天 一直 已经 非常 太 这个 那个 这 那 个 把 被 给 "
    "让 要 想 问 问问 一 不 没 没有 到 说 看 看看 下 上 里 人 家 现在 今天 昨天 每天 希望 帮忙 帮 "
    "尽快 赶紧 处理 解决 反映 情况 问题 一些 有点 比较 真的 实在 时候 着 过 吧 哦 嗯"
)
STOPWORDS = frozenset(_FILLER.split())
"""Filler words left out when reports are compared (jieba's words, normalised)."""


DICTIONARY_MIN_FREQ = 20
"""jieba's packaged dictionary, its words of frequency 20 and more: 80 of its 349 thousand
entries, the everyday vocabulary, in about 8 MB instead of 84 (a rarer word is cut into its
characters). A pure function of the pinned package: the same words on every worker."""


@lru_cache(maxsize=1)
def _segmenter() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    with tokenizer.get_dict_file() as packaged:
        kept = b"".join(
            line
            for line in packaged
            if line.strip() and int(line.split()[1]) >= DICTIONARY_MIN_FREQ
        )
    tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(io.BytesIO(kept))
    tokenizer.initialized = True
    return tokenizer


def normalise(text: str) -> str:
    """Full-width to half-width, compatibility forms folded, case folded, invisible removed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def has_visible_text(text: str) -> bool:
    """At least one letter, digit or CJK character (not only spaces, punctuation or emoji)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in normalise(text))


@lru_cache(maxsize=4096)
def words(text: str) -> tuple[tuple[int, str], ...]:
    """The words of `text` (normalised) with their start offsets. Cached: one need's text
    is read by several rules while it is decided."""
    plain = normalise(text)
    return tuple((start, word) for word, start, _ in _segmenter().tokenize(plain, HMM=False))


_PLACE_WORDS = re.compile(_NUM + r"\s*(?:单元|室|楼|层|号)")


def without_places(text: str) -> str:
    """`text` with the buildings, house numbers, units and floors it names blanked out."""
    plain = normalise(text)
    for pattern in (_HOUSE, _LETTER_BUILDING, _BUILDING, _PLACE_WORDS):
        plain = pattern.sub(" ", plain)
    return plain


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no punctuation, numbers, places or filler words."""
    kept = []
    for _, word in words(without_places(text)):
        word = word.strip()
        if len(word) == 0 or word in STOPWORDS or not has_visible_text(word):
            continue
        if word.isdigit() or word in {"号", "栋", "幢", "号楼", "单元", "楼", "室", "层"}:
            continue
        kept.append(word)
    return kept


def _number(raw: str) -> int | None:
    if raw.isdigit():
        return int(raw)
    total, digit = 0, 0
    for ch in raw:
        if ch == "十":
            total += (digit or 1) * 10
            digit = 0
        elif ch == "百":
            total += (digit or 1) * 100
            digit = 0
        elif ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            return None
    return total + digit


def places_in(text: str) -> set[str]:
    """Buildings ('b:6' for 6栋, 六号楼; 'b:b6' for B6栋), courtyards ('y:3' for 3号院),
    units of a building ('u:6/2' for 6栋2单元) and house numbers ('a:汉正街857') named in
    `text`."""
    found: set[str] = set()
    plain = normalise(text)
    for match in _BUILDING.finditer(plain):
        number = _number(match[1] or match[2])
        if number is not None:
            found.add(f"b:{number}")
    for match in _LETTER_BUILDING.finditer(plain):
        found.add(f"b:{match[1]}{int(match[2])}")
    for match in _COURTYARD.finditer(plain):
        number = _number(match[1])
        if number is not None:
            found.add(f"y:{number}")
    for match in _UNIT.finditer(plain):
        building, unit = _number(match[1]), _number(match[2])
        if building is not None and unit is not None:
            found.add(f"u:{building}/{unit}")
    for match in _HOUSE.finditer(plain):
        number = _number(match[2])
        street = _BEFORE_STREET.sub("", match[1])
        if number is not None and len(street) >= 2:
            found.add(f"a:{street}{number}")
    return found


_PLACE_KINDS = (
    r"([\u4e00-\u9fff]{2,10}?)(小学|中学|幼儿园|学校|医院|卫生院|菜市场|菜场|市场|公园|广场"
    r"|超市|银行|地铁站|公交站|车站|码头|大厦|商场|小区|花园|社区|地下通道|隧道|桥)"
)
_SIDES = r"(?:门口|后面|后门|旁边|对面|附近|前面|边上|[东西南北]门|[东西南北]侧)"
_LANDMARK = re.compile(_PLACE_KINDS + r"\s*(?:的)?\s*" + _SIDES)
_STREETS = (
    r"([\u4e00-\u9fff]{2,8}?)(大街|街|路)\s*(?:和|与|跟|、)?\s*([\u4e00-\u9fff]{2,8}?)(大街|街|路)"
)
_CROSSING = re.compile(_STREETS + r"\s*(?:的)?\s*(?:路口|交叉口|十字路口|交汇处)")
# Since 2026-12-06 (`collection.landmark_forms: 2`): a gate before the side (多福路小学正门对面)
# and a crossing said at length (大兴路跟多福路交叉的那个路口). Older policies keep the forms
# above: their needs replay the question where they asked it.
_LANDMARK_2 = re.compile(
    _PLACE_KINDS + r"\s*(?:的)?\s*(?:正门|大门|侧门|后门)?\s*(?:的)?\s*" + _SIDES
)
_CROSSING_2 = re.compile(
    _STREETS + r"\s*(?:交叉|交汇|相交)?\s*(?:的)?\s*(?:那个|这个)?\s*"
    r"(?:路口|交叉口|十字路口|交汇处)"
)
# Words that make a "name" a time, a relation or a question, not a name (每天小区门口, 隔壁小区,
# 孩子学校门口, 不知道哪条路的路口): such a landmark is no place a unit can find.
_NOT_IN_A_NAME = (
    *("这", "那", "哪", "我", "你", "他", "她", "咱", "某", "家", "不知道", "不清楚"),
    *("每天", "天天", "晚上", "早上", "白天", "夜里", "刚才", "现在", "一到", "经常"),
    *("隔壁", "对面", "前面", "后面", "旁边", "附近", "楼下", "门口", "整个", "孩子", "小孩"),
    *("一个", "有个", "条"),
)


def _a_name(words: str) -> str | None:
    """`words` as the name of a place (what comes before it in speech cut off), or None."""
    name = _BEFORE_STREET.sub("", words)
    if len(name) < 2 or any(word in name for word in _NOT_IN_A_NAME):
        return None
    return name


def landmarks_in(text: str, forms: int = 1) -> list[str]:
    """Named landmarks with a side (多福路小学后面, 清河小区东门) and crossings of two named
    streets (汉正街和多福路路口) in `text`: places a unit can find, though too coarse to
    tell two reports apart (they are never compared as places, only asked about)."""
    plain = normalise(text)
    found = []
    landmark, crossing = (_LANDMARK_2, _CROSSING_2) if forms >= 2 else (_LANDMARK, _CROSSING)
    for match in landmark.finditer(plain):
        name = _a_name(match[1])
        if name:
            found.append(name + match[2])
    for match in crossing.finditer(plain):
        first, second = _a_name(match[1]), _a_name(match[3])
        if first and second:
            found.append(f"{first}{match[2]}/{second}{match[4]}")
    return found


# A number as in a house or building (857, 5): not a phone typed into the address field.
_SHORT_NUMBER = re.compile(r"(?<!\d)\d{1,5}(?!\d)")


def address_names_a_place(address: str | None) -> bool:
    """Whether an address field says where a unit can go: a number (汉正街857号, 5栋), a
    crossing or a landmark with its side (汉正街和多福路路口, 多福路小学门口), or a named
    facility (汉正街小商品市场). A street alone (汉正街, 汉正街附近) or a placeholder does not."""
    if address is None or is_placeholder(address):
        return False
    plain = normalise(address)
    named = (_a_name(m[1]) for m in _NAMED_PLACE.finditer(plain))  # not 不知道哪个小区
    return (
        _SHORT_NUMBER.search(plain) is not None
        or bool(places_in(plain))
        or bool(landmarks_in(plain, forms=2))
        or any(named)
    )


# Spots within one place, in classes of words that name the same spot (门口 and 入口 are one
# front). Two reports at one building that name spots, none shared, may be two problems there.
# Words that are also ordinary speech (后面再说, 左手) are left out; a spot counts where a word
# starts, outside the names of landmarks (南门菜场 names no south gate).
SPOTS = {
    "front": ("大门", "门口", "入口", "门前", "前门", "正门", "出入口"),
    "back": ("后门", "后巷", "背后", "小巷", "巷子"),
    "top": ("楼顶", "屋顶", "顶楼", "屋面", "天台", "房顶"),
    "below": ("地下室", "车库", "负一楼", "地下车库"),
    "stairs": ("楼道", "楼梯", "过道", "走廊"),
    "yard": ("院子", "院里", "院内", "天井"),
    "bathroom": ("卫生间", "厕所", "洗手间"),
    "kitchen": ("厨房",),
    "balcony": ("阳台",),
    "east": ("东侧", "东边", "东门"),
    "west": ("西侧", "西边", "西门"),
    "south": ("南侧", "南边", "南门"),
    "north": ("北侧", "北边", "北门"),
    "left": ("左边", "左侧"),
    "right": ("右边", "右侧"),
}
# 3楼, 三层 (not 5号楼, a building; not 楼道, 楼梯, 楼顶, 楼下, 楼上; not 六层楼, a height; not
# 一层灰, a layer; not B1层 or 负1层, below ground); a flat 402 or 1502室 is on its floor (4,
# 15). A flat is three or four digits standing alone: not a date, a phone number, a time, a
# voltage, an area or a length (2026-12-06, 027-8765, 220v, 130平米, 120多米), nor 110, 119,
# 120, 122 or 12345 (numbers people call).
_FLOOR = re.compile(
    r"(?<![号\dBb负\-])"
    + _NUM
    + r"\s*(?:楼(?!道|梯|顶|下|上|栋|房)|层(?!楼|高|灰|水|皮|膜|油|土|纸))"
)
_FLAT = re.compile(
    r"(?<![\d.号路街\-/:：])([1-9]\d{2,3})(?:室|房|号房)?"
    r"(?![\d.号栋米元块年天岁路街楼层\-/:：vV平多斤公千克])"
)
_CALLED = frozenset({110, 119, 120, 122, 12345})
_NAMED_PLACE = re.compile(_PLACE_KINDS)


def spots_in(text: str) -> set[str]:
    """The classes of spot (`SPOTS`) `text` names: 'front' for 门口 or 入口, 'top' for 楼顶 …"""
    plain = _NAMED_PLACE.sub(lambda m: " " * len(m[0]), normalise(text))  # 南门菜场: a name
    starts = {start for start, _ in words(plain)}
    return {
        spot
        for spot, names in SPOTS.items()
        for name in names
        if any(plain.startswith(name, at) for at in starts)
    }


# Things with their own number at a place, by class: 1号梯 and 一号电梯 are one lift, 1号货梯
# another; 5号杆 and 5号路灯 one lamp post. Longer words first.
_THING_CLASSES = {
    "客梯": "passenger-lift",
    "货梯": "goods-lift",
    "电梯": "lift",
    "梯": "lift",
    "充电桩": "charger",
    "桩": "charger",
    "灯杆": "lamp-post",
    "路灯": "lamp-post",
    "杆": "lamp-post",
    "窨井": "manhole",
    "井": "manhole",
    "水泵": "pump",
    "泵": "pump",
    "机": "machine",
    "柜": "cabinet",
    "箱": "box",
}
_NUMBERED_THING = re.compile(_NUM + r"\s*号\s*(" + "|".join(_THING_CLASSES) + ")")


def numbered_things_in(text: str) -> set[str]:
    """The numbered things `text` names, as number and class: '1 lift' for 1号梯 and 一号电梯."""
    found = set()
    for match in _NUMBERED_THING.finditer(normalise(text)):
        number = _number(match[1])
        if number is not None:
            found.add(f"{number} {_THING_CLASSES[match[2]]}")
    return found


def floors_in(text: str) -> set[int]:
    """The floors `text` names: 3楼, 三层, or a flat's number (402 is on the fourth)."""
    plain = normalise(text)
    found = set()
    for match in _FLOOR.finditer(plain):
        number = _number(match[1])
        if number is not None and 0 < number < 100:
            found.add(number)
    for match in _FLAT.finditer(plain):
        number = int(match[1])
        if number not in _CALLED and 0 < number % 100 < 50:  # 402, 1502; not 2026, 500, 180
            found.add(number // 100)
    return found


def is_placeholder(value: str | None) -> bool:
    """An empty field, or one filled with 'none' / '无' / '不详' for want of a value."""
    return value is None or not has_visible_text(value) or normalise(value).strip() in _PLACEHOLDERS


def building_key(building: str) -> str:
    """A building as residents name it ('6栋', '6号楼', '六栋', '6' -> 'b:6'; 'B6' -> 'b:b6');
    any other name is kept whole, normalised."""
    plain = normalise(building).strip()
    match = _BUILDING_FIELD.match(plain)
    number = _number(match[2]) if match else None
    if match and number is not None:
        return f"b:{match[1] or ''}{number}"
    return f"b:{plain}"


def digest(*parts: str) -> str:
    """A short stable digest: place keys are compared and stored as digests, never as text."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def coordinates(details: dict[str, str]) -> tuple[float | None, float | None]:
    """The report's coordinates (details `lat` and `long`, as Open311 sends them), if valid."""
    try:
        lat, lon = float(details["lat"]), float(details["long"])
    except (KeyError, ValueError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) == (0.0, 0.0):
        return None, None  # out of range, or an app's default
    return lat, lon
