"""Reading students' names from the file names they really give their archives."""
import re
import unicodedata

import pytest

from grader.names import StudentName, fallback_key, parse_name

# (file name, last, first, key); last None means "cannot be read".
NAMES = [
    # The official form and its extensions.
    ("DOE John Lab2 DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV.tbz2", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV.tar.gz", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV.tgz", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV.tar.xz", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV.tar", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV.zip", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV.TAR.BZ2", "DOE", "John", "DOE_John"),
    # Separators, case, lab tokens, a missing DLCV, browser duplicates.
    ("doe_john_lab2_dlcv.tar.bz2", "DOE", "john", "DOE_John"),
    ("DOE_John_LAB_2_DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("DOE-John-Lab-2-DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("doe-john-lab2-dlcv.tar.bz2", "DOE", "john", "DOE_John"),
    ("DOE John lab 2.tar.bz2", "DOE", "John", "DOE_John"),
    ("DOE_John-Lab2-DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("DOE John - Lab2 DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("doe.john.lab2.dlcv.tar.bz2", "DOE", "john", "DOE_John"),
    ("DOE John.tar.bz2", "DOE", "John", "DOE_John"),
    ("Doe John Lab2 DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("DOE JOHN LAB2 DLCV.tar.bz2", "DOE", "JOHN", "DOE_John"),
    ("John DOE Lab2 DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("Lab2_DLCV_DOE_John.zip", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV (1).tar.bz2", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV(2).tar.bz2", "DOE", "John", "DOE_John"),
    ("DOE John Lab2 DLCV final v2.tar.bz2", "DOE", "John", "DOE_John"),
    ("/home/teacher/Downloads/DOE John Lab2 DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    ("C:\\Users\\t\\DOE John Lab2 DLCV.tar.bz2", "DOE", "John", "DOE_John"),
    # Accents: kept for display, stripped in the key.
    ("NGUYỄN Thị Lab2 DLCV.tar.bz2", "NGUYỄN", "Thị", "NGUYEN_Thi"),
    ("MÜLLER Jürgen Lab2 DLCV.tar.bz2", "MÜLLER", "Jürgen", "MULLER_Jurgen"),
    ("ÇELIK Ayşe Lab2 DLCV.tar.bz2", "ÇELIK", "Ayşe", "CELIK_Ayse"),
    ("çelik_ayşe_lab2.tar.bz2", "ÇELIK", "ayşe", "CELIK_Ayse"),
    ("STRAUß Jürgen Lab2.tar.bz2", "STRAUß", "Jürgen", "STRAUSS_Jurgen"),
    ("O'BRIEN Seán Lab2 DLCV.tar.bz2", "O'BRIEN", "Seán", "OBRIEN_Sean"),
    ("ŁUKASZEWICZ Paweł Lab2.zip", "ŁUKASZEWICZ", "Paweł", "LUKASZEWICZ_Pawel"),
    # Compound names.
    ("DE LA FONTAINE Jean-Baptiste Lab2 DLCV.tar.bz2", "DE LA FONTAINE", "Jean-Baptiste",
     "DE-LA-FONTAINE_Jean-Baptiste"),
    ("VAN DER BERG Anna Maria Lab2 DLCV.tar.bz2", "VAN DER BERG", "Anna Maria", "VAN-DER-BERG_Anna-Maria"),
    ("van der BERG Anna Maria lab2.tar.bz2", "VAN DER BERG", "Anna Maria", "VAN-DER-BERG_Anna-Maria"),
    ("Anna Maria van der BERG Lab2.tar.bz2", "VAN DER BERG", "Anna Maria", "VAN-DER-BERG_Anna-Maria"),
    ("DUPONT-MARTIN Marie-Claire Lab2 DLCV.tar.bz2", "DUPONT-MARTIN", "Marie-Claire",
     "DUPONT-MARTIN_Marie-Claire"),
    ("de_la_fontaine_jean-baptiste_lab2.tar.bz2", "DE LA FONTAINE", "jean-baptiste",
     "DE-LA-FONTAINE_Jean-Baptiste"),
    ("El Amrani Yasmine Lab2 DLCV.tar.bz2", "EL AMRANI", "Yasmine", "EL-AMRANI_Yasmine"),
    ("LEE Min-Ho TP2.tar.bz2", "LEE", "Min-Ho", "LEE_Min-Ho"),
    # A lone upper-case word is a last name; anything else unreadable is None.
    ("DOE Lab2 DLCV.tar.bz2", "DOE", "", "DOE"),
    ("Lab2 DLCV.tar.bz2", None, None, None),
    ("lab2.tar.bz2", None, None, None),
    ("submission.tar.bz2", None, None, None),
    ("Doe.zip", None, None, None),
    ("2024 (1).tar.bz2", None, None, None),
    (".tar.bz2", None, None, None),
    ("", None, None, None),
]


@pytest.mark.parametrize("filename, last, first, key", NAMES, ids=[n[0] or "(empty)" for n in NAMES])
def test_parse_name(filename, last, first, key):
    name = parse_name(filename)
    if last is None:
        assert name is None
    else:
        assert name == StudentName(last=last, first=first, key=key)


def test_the_table_is_big_enough():
    assert len({n[0] for n in NAMES}) >= 25


def test_macos_decomposed_accents_read_as_composed():
    # Files from macOS carry "u" + combining diaeresis; display and key must not depend on it.
    decomposed = unicodedata.normalize("NFD", "MÜLLER Jürgen Lab2 DLCV.tar.bz2")
    assert decomposed != "MÜLLER Jürgen Lab2 DLCV.tar.bz2"
    assert parse_name(decomposed) == StudentName("MÜLLER", "Jürgen", "MULLER_Jurgen")


def test_names_without_latin_letters_get_a_stable_safe_key():
    upper, lower = parse_name("ИВАНОВ Иван Lab2.tar.bz2"), parse_name("иванов иван lab2.tar.bz2")
    assert (upper.last, upper.first) == ("ИВАНОВ", "Иван")
    assert upper.key == lower.key
    assert re.fullmatch(r"[A-Za-z0-9_-]+", upper.key)
    assert parse_name("ПЕТРОВ Иван Lab2.tar.bz2").key != upper.key


def test_every_key_is_folder_safe():
    for filename, last, *_ in NAMES:
        if last is not None:
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", parse_name(filename).key), filename


def test_fallback_key_is_safe_stable_and_distinct():
    names = ["submission.tar.bz2", "submission.zip", "Lab2 DLCV.tar.bz2", "Lab2_DLCV.tar.bz2",
             "../../etc/passwd", "ИВАН.tar.bz2", ".tar.bz2", "a" * 300 + ".tar.bz2"]
    keys = [fallback_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", key) and len(key) <= 60, key
    assert fallback_key("submission.tar.bz2") == fallback_key("/elsewhere/submission.tar.bz2")
    assert fallback_key("submission.tar.bz2").startswith("submission-")
