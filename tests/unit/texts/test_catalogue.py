"""The one translation catalogue is complete in both languages and checked at start."""

from __future__ import annotations

import ast
import re
import shutil
import sys
import unicodedata
from pathlib import Path

import jinja2
import pytest

from api.reports import columns, label
from api.tokens import ROLES
from domain.meta import SYSTEM
from tests.unit.test_architecture import ROOT, imported_modules
from texts.catalogue import LOCALE, Catalogue, CatalogueError, catalogue, placeholders, say, word
from texts.words import FAMILIES, STEPS, every_word_id

PLACEHOLDER = re.compile(r"%\([a-z_.]+\)s")


def _outside_placeholders(text: str) -> str:
    return PLACEHOLDER.sub("", text)


def _is_chinese_or_full_width(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK", "FULLWIDTH", "IDEOGRAPHIC", "ROMAN NUMERAL")) or ch in "【】、。"


def test_every_id_is_in_both_languages_with_the_same_placeholders() -> None:
    texts = catalogue()

    assert set(texts.texts) == {"zh", "en"}
    assert set(texts.texts["zh"]) == set(texts.texts["en"])
    for message_id in texts.ids():
        assert placeholders(texts.raw(message_id, "zh")) == placeholders(
            texts.raw(message_id, "en")
        ), message_id


def test_a_chinese_text_has_no_ascii_words_outside_its_placeholders() -> None:
    texts = catalogue()
    offending = {
        i: texts.raw(i, "zh")
        for i in texts.ids()
        if re.search(r"[A-Za-z]", _outside_placeholders(texts.raw(i, "zh")))
    }

    assert offending == {}


def test_an_english_text_has_no_chinese_characters_or_full_width_punctuation() -> None:
    texts = catalogue()
    offending = {
        i: texts.raw(i, "en")
        for i in texts.ids()
        if any(_is_chinese_or_full_width(ch) for ch in texts.raw(i, "en"))
    }

    assert offending == {}
    assert all(texts.raw(i, "en").isascii() for i in texts.ids())


def test_every_code_of_the_domain_has_a_word_in_both_languages() -> None:
    texts = catalogue()

    assert set(every_word_id()) <= texts.ids()
    assert set(FAMILIES["role"]) == {*ROLES, SYSTEM.role}
    assert word("theme", "reservoir") == "水库三防"
    assert word("level", 1, "en") == "I (red)"
    assert word("priority", "urgent") == "特急"
    # An unknown code is shown as it is rather than failing a text.
    assert word("theme", "volcano", "en") == "volcano"


def test_the_reports_labels_are_the_catalogues_words() -> None:
    # The reports' labels are the catalogue's words, looked up by code.
    for key, zh, en in columns():
        assert (word("indicator", key), word("indicator", key, "en")) == (zh, en)
    for family in ("theme", "level"):
        for key in FAMILIES[family]:
            assert label(family, key) == (word(family, key), word(family, key, "en"))
    assert label("level", "1") == ("Ⅰ级（红色）", "I (red)")
    assert label("theme", "none") == ("无关联预警", "No warning")


def _command_names(path: Path) -> set[str]:
    """The command names a module hands to ``ctx.meta(...)`` and the ``_command``-like
    helpers (``_on_instruction(ctx, iid, "SignFor", act)``): what ``meta.command`` holds."""
    source = path.read_text(encoding="utf-8")
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name == "meta" or name == "_command" or name.startswith("_on_"):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if (
                    isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and re.fullmatch(r"(?:[A-Z][a-z]+)+", arg.value)
                ):
                    found.add(arg.value)
    return found


def test_every_step_the_use_cases_record_has_a_word() -> None:
    # Wherever the use cases stand in the domain and the notifiers, module by module.
    modules = sorted((ROOT / "domain").rglob("*.py")) + sorted((ROOT / "notifiers").rglob("*.py"))
    recorded = set().union(*(_command_names(m) for m in modules))

    assert len(recorded) > 30
    assert recorded - set(STEPS) == set()


def test_a_text_is_said_with_its_values_and_a_missing_one_is_an_error() -> None:
    assert say("timeline.Instruction.SignedFor", unit="HW-DH") == "HW-DH签收指令"
    assert say("timeline.Instruction.SignedFor", "en", unit="HW-DH") == (
        "HW-DH signed for the instruction"
    )
    with pytest.raises(KeyError):
        say("timeline.Instruction.SignedFor")
    with pytest.raises(ValueError, match="no texts in 'fr'"):
        say("timeline.Instruction.SignedFor", "fr", unit="HW")


def test_the_pages_can_use_the_catalogue_through_jinja2s_i18n_extension() -> None:
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_gettext_translations(catalogue().translations("zh"), newstyle=True)  # type: ignore[attr-defined]
    page = env.from_string('<p>{{ _("timeline.Instruction.SignedFor", unit=who) }}</p>')

    assert page.render(who="<b>HW</b>") == "<p>&lt;b&gt;HW&lt;/b&gt;签收指令</p>"


def test_the_texts_room_imports_only_the_standard_library_babel_and_the_domain() -> None:
    allowed = {"babel", "domain", "texts"}
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "texts").rglob("*.py"))
        for name in imported_modules(path.read_text(encoding="utf-8"))
        if name not in sys.stdlib_module_names and name not in allowed
    ]

    assert offending == []


# -- a broken catalogue is refused at load ----------------------------------------------


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(LOCALE, tmp_path / "locale")
    return tmp_path / "locale"


def _edit(folder: Path, language: str, old: str, new: str) -> None:
    path = folder / language / "LC_MESSAGES" / "closedloop.po"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_copy_of_the_shipped_catalogue_loads() -> None:
    assert Catalogue.load().ids() == catalogue().ids()


@pytest.mark.parametrize(
    ("language", "old", "new", "problem"),
    [
        (
            "en",
            'msgid "word.theme.reservoir"\nmsgstr "Reservoirs"\n',
            "",
            "en: word.theme.reservoir is missing",
        ),
        (
            "en",
            'msgstr "%(unit)s signed for the instruction"',
            'msgstr "%(who)s signed for the instruction"',
            "timeline.Instruction.SignedFor: the placeholders differ",
        ),
        (
            "zh",
            'msgid "timeline.Instruction.Parked"\nmsgstr "挂起：%(reason)s"',
            'msgid "timeline.Instruction.Parked"\nmsgstr ""',
            "timeline.Instruction.Parked is not translated",
        ),
        (
            "zh",
            'msgid "timeline.Instruction.Parked"',
            '#, fuzzy\nmsgid "timeline.Instruction.Parked"',
            "timeline.Instruction.Parked is not translated",
        ),
        (
            "zh",
            'msgstr "挂起：%(reason)s"',
            'msgstr "挂起：%s"',
            "timeline.Instruction.Parked: only %(name)s placeholders",
        ),
    ],
    ids=["missing", "placeholders", "empty", "fuzzy", "positional"],
)
def test_a_broken_catalogue_is_refused_with_its_problem_named(
    tmp_path: Path, language: str, old: str, new: str, problem: str
) -> None:
    folder = _copy(tmp_path)
    _edit(folder, language, old, new)

    with pytest.raises(CatalogueError, match=re.escape(problem)):
        Catalogue.load(folder)


def test_a_code_without_a_word_in_any_language_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    for language, text in (("zh", "特急"), ("en", "Urgent")):
        _edit(folder, language, f'msgid "word.priority.urgent"\nmsgstr "{text}"\n', "")

    with pytest.raises(CatalogueError, match=r"word\.priority\.urgent is missing: every code"):
        Catalogue.load(folder)


def test_a_variant_named_in_variants_toml_but_missing_from_the_catalogue_is_refused(
    tmp_path: Path,
) -> None:
    folder = _copy(tmp_path)
    for language in ("zh", "en"):
        path = folder / language / "LC_MESSAGES" / "closedloop.po"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        at = lines.index('msgid "timeline.Instruction.Verified.rejected"\n')
        del lines[at : at + 2]
        path.write_text("".join(lines), encoding="utf-8")

    with pytest.raises(
        CatalogueError,
        match=r"variants\.toml: timeline\.Instruction\.Verified\.rejected is not in the catalogue",
    ):
        Catalogue.load(folder)
