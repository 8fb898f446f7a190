"""Korean particles that fit the word before them (전제가, 가설이, 'beomi/kcbert-base'를), never hedged as "이(가)".

A particle has one form after a final consonant (받침), another after a vowel (으로/로: 로 also after ㄹ). A name
not ending in Hangul is read aloud: digits and Latin letters by their Korean names; punctuation is skipped.
"""

import re

FORMS = {"이/가": ("이", "가"), "은/는": ("은", "는"), "을/를": ("을", "를"), "과/와": ("과", "와"),
         "이라/라": ("이라", "라"), "으로/로": ("으로", "로")}  # pair: (after a final consonant, after a vowel)
RIEUL = 8  # the index of ㄹ among the final consonants: 으로/로 takes 로 after it
DIGIT_FINAL = {"0": 21, "1": RIEUL, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": RIEUL, "8": RIEUL, "9": 0}  # 영 일 이 삼
LETTER_FINAL = {"l": RIEUL, "m": 16, "n": 4, "r": RIEUL}  # 엘 엠 엔 알; every other letter's name ends in a vowel
READ = re.compile(r"[가-힣0-9A-Za-z]")


def particle(word, pair: str) -> str:
    """The form of the particle `pair` ("이/가", "을/를", ...) that follows `word`."""
    last = next((c for c in reversed(str(word)) if READ.match(c)), "")
    if "가" <= last <= "힣":
        final = (ord(last) - ord("가")) % 28
    else:
        final = DIGIT_FINAL[last] if last.isdigit() else LETTER_FINAL.get(last.lower(), 0)
    with_final, without = FORMS[pair]
    if pair == "으로/로":
        return without if final in (0, RIEUL) else with_final
    return with_final if final else without


def josa(word, pair: str) -> str:
    """`word` followed by the particle that fits it: josa("전제", "이/가") == "전제가"."""
    return f"{word}{particle(word, pair)}"
