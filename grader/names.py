"""Read a student's name from the file name of a submitted archive.

The official form is ``LASTNAME firstname Lab2 DLCV.tar.bz2``; students type many variants of
it, and this module reads as many as it can without guessing wildly. The rules, in order:

1. Only the base name counts (folders are dropped); it is NFC-normalised, because archives
   and downloads made on macOS carry decomposed accents (``u`` + combining diaeresis).
2. Browser duplicate suffixes are dropped: ``" (1)"``, ``"(2)"`` anywhere in the name.
3. Known archive extensions are stripped from the end, repeatedly: ``.tar.bz2``, ``.tbz2``,
   ``.tar.gz``, ``.tgz``, ``.tar.xz``, ``.tar``, ``.zip`` (and ``.7z``, ``.rar``, ...); a name
   may have none.
4. Words are separated by spaces, underscores, dots, commas or ``+``. A dash also separates
   words, except inside a word when the name uses one of the other separators: there
   ``Jean-Baptiste`` and ``DUPONT-MARTIN`` stay one word (but ``John-Lab2-DLCV`` is split,
   because a part of it is a lab token). In a name written only with dashes
   (``doe-john-lab2-dlcv``) every dash is a space.
5. Lab and course tokens are not names: ``Lab2``, ``lab``, ``LAB_2``, ``lab 2``, ``Lab-2``,
   ``TP2``, ``DLCV``, any word holding a digit (``v2``, ``2024``). The name is the run of words
   before the first such token, or, when the file name starts with them, the run right after.
6. Last and first name:
   - when the case tells it, the last name is the run of fully upper-case words at the start
     (``DE LA FONTAINE Jean-Baptiste``, ``NGUYỄN Thị``); lower-case particles directly before
     or inside that run belong to it (``van der BERG Anna`` -> ``VAN DER BERG``);
   - else, when the only upper-case run is at the end, it is the last name (``John DOE``);
   - else (everything in the same case: ``doe_john``, ``Doe John``, ``DOE JOHN``) the first
     word is the last name and the rest the first name; particles of any case in front of
     it belong to it, as long as a first name remains (``de la fontaine jean`` ->
     ``DE LA FONTAINE`` + ``jean``, ``El Amrani Yasmine`` -> ``EL AMRANI`` + ``Yasmine``).
7. A lone word is a last name only when it is fully upper-case (``DOE.tar.bz2`` ->
   ``DOE``, first name empty); a lone word in any other case (``submission.tar.bz2``,
   ``Doe.zip``) is too ambiguous and gives ``None``, as does a name with no words at all
   (``Lab2 DLCV.tar.bz2``).

Display forms keep what the student typed, accents included: the last name upper-cased (a
``ß`` stays, its capital is two letters), the first name as typed, words joined by single
spaces (so ``doe-jean-baptiste`` shows ``Jean Baptiste``). The ``key`` is an ASCII slug for folder
names: accents stripped (``MÜLLER`` -> ``MULLER``), last-name words joined by ``-``, then
``_``, then the first name's words, each capitalised, joined by ``-``: ``DE-LA-FONTAINE_Jean-Baptiste``.
So every spelling of one student (``doe_john_lab2``, ``DOE John Lab2 DLCV (1).zip``) gives the
same key. Two students with the same name also share a key: the caller that makes folders
deduplicates (e.g. with a hash of the archive). ``fallback_key`` gives a key for the file
names ``parse_name`` cannot read. Every key is at most ``MAX_KEY`` bytes (64, ASCII): a longer
one keeps its start and ends with ``~`` and 8 hex digits of the sha1 of the whole key, so a
file name of 79 Cyrillic words still makes a folder name the file system accepts, with room
for the caller's suffixes (a student folder's name, suffixes included, is at most
``grader.batch.plan.MAX_FOLDER`` bytes). Names holding undecodable bytes (``surrogateescape``) are read too.
"""
import hashlib
import re
import unicodedata
from dataclasses import dataclass

# Compound extensions before their last part, so that ".tar.bz2" goes in one step.
_EXTENSIONS = (".tar.bz2", ".tar.gz", ".tar.xz", ".tar.zst", ".tbz2", ".tbz", ".tgz", ".txz",
               ".tar", ".bz2", ".gz", ".xz", ".zst", ".zip", ".7z", ".rar")
_DUPLICATE = re.compile(r"\s*\(\d{1,3}\)")
_SEPARATORS = re.compile(r"[\s_.,;+]+")
# Course tokens: "lab", "lab2", "tp2", "dlcv", "lab2dlcv"; a word holding a digit is never a name.
_LAB_TOKEN = re.compile(r"(?:lab|labo|tp|dlcv|lab\d*dlcv)", re.IGNORECASE)
# Lower-case particles of compound last names (French, Dutch, German, Italian, Spanish, Arabic).
_PARTICLES = {"de", "del", "della", "der", "des", "di", "du", "da", "dos", "das", "la", "le",
              "van", "von", "den", "ter", "ten", "zu", "bin", "ibn", "al", "el"}
# Bytes of a name key (``StudentName.key``, ``fallback_key``). A student folder's name adds
# suffixes to it and has its own bound, ``grader.batch.plan.MAX_FOLDER``.
MAX_KEY = 64
# Letters NFKD does not decompose into an ASCII base letter.
_ASCII_EXTRA = str.maketrans({"ß": "ss", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O",
                              "ø": "o", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d",
                              "Þ": "Th", "þ": "th", "ı": "i"})


@dataclass(frozen=True)
class StudentName:
    """A student's name as read from a file name.

    ``last`` is upper-cased, ``first`` as typed (empty when only a last name could be read),
    ``key`` an ASCII slug for folder names, the same for every spelling of the name.
    """
    last: str
    first: str
    key: str

    def __str__(self):
        return f"{self.last} {self.first}".strip()


def parse_name(filename) -> StudentName | None:
    """The student's name in an archive's file name, or ``None`` when it cannot be read.

    See the module docstring for the rules; ``filename`` may be a path or a plain name.
    """
    words = _name_words(_stem(filename))
    if not words:
        return None
    first: list[str]
    if len(words) == 1:
        if not _is_upper(words[0]):
            return None
        last, first = words, []
    else:
        last, first = _split(words)
    return StudentName(last=_upper(" ".join(last)), first=" ".join(first), key=_key(last, first))


def fallback_key(filename) -> str:
    """A folder-safe key for an archive whose name ``parse_name`` cannot read.

    The ASCII slug of the name without its extension, plus 8 hex digits of the sha1 of the
    whole base name: two different files never share a key, whatever their slugs.
    """
    name = _basename(filename)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", _ascii(_strip_extensions(name))).strip("-")[:48]
    digest = hashlib.sha1(_bytes(name)).hexdigest()[:8]
    return f"{slug or 'archive'}-{digest}"


def bounded(key: str, limit: int = MAX_KEY) -> str:
    """``key`` when it fits in ``limit`` bytes, else its start, ``~`` and 8 hex digits of its sha1."""
    if len(key.encode("ascii", "backslashreplace")) <= limit:
        return key
    digest = hashlib.sha1(_bytes(key)).hexdigest()[:8]
    return key[: limit - 9].rstrip("-_") + "~" + digest


def _bytes(text: str) -> bytes:
    """UTF-8 of any str, lone surrogates included (the undecodable bytes of a file name)."""
    return text.encode("utf-8", "surrogatepass")


def _basename(filename) -> str:
    name = str(filename).replace("\\", "/").rsplit("/", 1)[-1]
    return unicodedata.normalize("NFC", name)


def _strip_extensions(name: str) -> str:
    while True:
        lower = name.lower()
        for ext in _EXTENSIONS:
            if lower.endswith(ext) and len(name) > len(ext):
                name = name[: -len(ext)]
                break
        else:
            return name


def _stem(filename) -> str:
    """The base name without duplicate suffixes and archive extensions."""
    name = _DUPLICATE.sub(" ", _basename(filename))
    return _strip_extensions(name.strip())


def _is_junk(word: str) -> bool:
    """A lab/course token or anything holding a digit: never part of a name."""
    return bool(_LAB_TOKEN.fullmatch(word)) or any(c.isdigit() for c in word)


def _tokens(stem: str) -> list[str]:
    """Split a stem into words and junk tokens (rule 4)."""
    if not _SEPARATORS.search(stem.strip()):
        # Dashes are the only separators: each one is a space.
        return [w for w in stem.split("-") if w]
    words = []
    for token in _SEPARATORS.split(stem):
        parts = [p for p in token.split("-") if p]
        if any(_is_junk(p) for p in parts):
            words.extend(parts)          # "John-Lab2-DLCV", "Lab-2"
        elif parts:
            words.append("-".join(parts))  # "Jean-Baptiste", and "-" alone vanishes
    return words


def _name_words(stem: str) -> list[str]:
    """The run of name words (rule 5), with stray punctuation dropped."""
    words = [w for w in _tokens(stem) if any(c.isalnum() for c in w)]
    junk = [_is_junk(w) for w in words]
    start = 0
    while start < len(words) and junk[start]:
        start += 1
    end = start
    while end < len(words) and not junk[end]:
        end += 1
    return words[start:end]


def _is_upper(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and all(not c.islower() for c in letters) and any(c.isupper() for c in letters)


def _upper(text: str) -> str:
    """Upper-case, keeping letters whose capital is two letters ("STRAUß" stays as typed)."""
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


def _is_particle(word: str) -> bool:
    return word.islower() and word in _PARTICLES


def _split(words: list[str]) -> tuple[list[str], list[str]]:
    """Last name words and first name words (rule 6)."""
    upper = [_is_upper(w) for w in words]
    if any(upper) and not all(upper):
        # The leading run of upper-case words, lower-case particles allowed inside it; it may
        # not end on a particle ("DOE de Jean" is DOE + "de Jean").
        end = 0
        while end < len(words) and (upper[end] or _is_particle(words[end])):
            end += 1
        while end > 0 and not upper[end - 1]:
            end -= 1
        if end:
            return words[:end], words[end:]
        # The trailing run ("John DOE"), with the particles just before it ("Anna van der BERG").
        start = len(words)
        while upper[start - 1]:
            start -= 1
        if start < len(words):
            while start > 1 and _is_particle(words[start - 1]):
                start -= 1
            return words[start:], words[:start]
    # One case throughout (or upper-case words only in the middle): the first word is the
    # last name, with the particles before it ("de la fontaine jean", "Da Silva Maria").
    end = 0
    while end < len(words) - 2 and words[end].lower() in _PARTICLES:
        end += 1
    return words[:end + 1], words[end + 1:]


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_EXTRA))
    return "".join(c for c in decomposed if c.isascii() and not unicodedata.combining(c))


def _slug_word(word: str, last: bool) -> str:
    """One word of a key: ASCII letters and inner dashes, upper-cased for a last name and
    capitalised for a first name; a hash when no ASCII is left (Cyrillic, Han, ...), taken
    case-folded so that ``ИВАНОВ`` and ``Иванов`` agree."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z-]+", "", _ascii(word)).strip("-"))
    if not slug:
        return "x" + hashlib.sha1(_bytes(word.casefold())).hexdigest()[:6]
    return slug.upper() if last else "-".join(p.capitalize() for p in slug.split("-"))


def _key(last: list[str], first: list[str]) -> str:
    last_key = "-".join(_slug_word(w, last=True) for w in last)
    first_key = "-".join(_slug_word(w, last=False) for w in first)
    return bounded(f"{last_key}_{first_key}" if first_key else last_key)
