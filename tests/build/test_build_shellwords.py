"""Shell words: BuildKit's lex.go tables (envVarTest, wordsTest, TestProcessWithMatches).

Sources: moby/buildkit frontend/dockerfile/shell/{envVarTest,wordsTest,lex_test.go}. Rows the
old moby copy of envVarTest answered leniently (unterminated quotes, ``${}``) carry today's
BuildKit answer: an error.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.build.dockerfile.shellwords import (
    Lexer,
    ShellWordError,
    expand,
    expand_words,
    used_variables,
)
from dockyard.errors import InvalidArgument

ERROR = object()

# envVarTest: ProcessWord with PWD=/home SHELL=bash KOREAN=한국어 NULL= (source, expected).
ENV_VAR_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
ENV_VAR_TEST: list[tuple[str, object]] = [
    (r"hello", "hello"),
    (r"he'll'o", "hello"),
    (r"he'llo", ERROR),
    (r"he\'llo", "he'llo"),
    (r"he\\'llo", ERROR),
    (r"abc\tdef", "abctdef"),
    (r'"abc\tdef"', r"abc\tdef"),
    (r'"abc\\tdef"', r"abc\tdef"),
    (r"'abc\tdef'", r"abc\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    (r'"hello', ERROR),
    ('"hello\\"', ERROR),
    (r'"hel\'lo"', r"hel\'lo"),
    (r'''"hel'lo"''', "hel'lo"),
    (r"'hello", ERROR),
    ("'hello\\'", "hello\\"),
    (r"'hello\there'", r"hello\there"),
    (r"'hello\\there'", r"hello\\there"),
    ("\"''\"", "''"),
    (r"$.", "$."),
    (r"$1", ""),
    (r"he$1x", "hex"),
    (r"he$.x", "he$.x"),
    (r"he$pwd.", "he."),
    (r"he$PWD", "he/home"),
    (r"he\$PWD", "he$PWD"),
    (r"he\\$PWD", r"he\/home"),
    (r'"he\$PWD"', "he$PWD"),
    (r'"he\\$PWD"', r"he\/home"),
    (r"\${}", "${}"),
    (r"\${}aaa", "${}aaa"),
    (r"he\${}", "he${}"),
    (r"he\${}xx", "he${}xx"),
    (r"${}", ERROR),
    (r"${}aaa", ERROR),
    (r"he${}", ERROR),
    (r"he${}xx", ERROR),
    (r"he${hi}", "he"),
    (r"he${hi}xx", "hexx"),
    (r"he${PWD}", "he/home"),
    (r"he${.}", ERROR),
    (r"he${XXX:-000}xx", "he000xx"),
    (r"he${PWD:-000}xx", "he/homexx"),
    (r"he${XXX:-$PWD}xx", "he/homexx"),
    (r"he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    (r"he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    (r"he${XXX:YYY}", ERROR),
    (r"he${XXX?}", ERROR),
    (r"he${XXX:?}", ERROR),
    (r"he${PWD?}", "he/home"),
    (r"he${PWD:?}", "he/home"),
    (r"he${NULL?}", "he"),
    (r"he${NULL:?}", ERROR),
    (r"he${XXX:+${PWD}}xx", "hexx"),
    (r"he${PWD:+${XXX}}xx", "hexx"),
    (r"he${PWD:+${SHELL}}xx", "hebashxx"),
    (r"he${XXX:+000}xx", "hexx"),
    (r"he${PWD:+000}xx", "he000xx"),
    (r"'he${XX}'", "he${XX}"),
    (r'"he${PWD}"', "he/home"),
    ("\"he'$PWD'\"", "he'/home'"),
    (r'"$PWD"', "/home"),
    (r"'$PWD'", "$PWD"),
    (r"'\$PWD'", r"\$PWD"),
    (r"""'"hello"'""", '"hello"'),
    (r"'he\$PWD'", r"he\$PWD"),
    (r"he${PWD", ERROR),
    (r"he${PWD:=000}xx", ERROR),
    (r"he${PWD:+${PWD}:}xx", "he/home:xx"),
    (r"he${XXX:-\$PWD:}xx", "he$PWD:xx"),
    (r"he${XXX:-\${PWD}z}xx", "he${PWDz}xx"),
    ("안녕하세요", "안녕하세요"),
    ("안'녕'하세요", "안녕하세요"),
    ("안'녕하세요", ERROR),
    ("안녕\\'하세요", "안녕'하세요"),
    ("안녕\\t하세요", "안녕t하세요"),
    ('"안녕\\t하세요"', "안녕\\t하세요"),
    ("안녕$1x", "안녕x"),
    ("안녕${PWD:+${SHELL}}xx", "안녕bashxx"),
    ("$KOREAN", "한국어"),
    ("안녕$KOREAN", "안녕한국어"),
    # Beyond the file: special parameters, stray braces, a lone dollar.
    (r"$", "$"),
    (r"$$", ""),
    (r"$@x", "x"),
    (r"${#}", ""),
    (r"${aaa}}", "}"),
    (r"${{aaa}", ERROR),
    (r"${:aaa}", ERROR),
    (r"${aaa", ERROR),
    (r"${aaa:-bbb}}", "bbb}"),
    (r"${aaa:-${bbb:-ccc}}}", "ccc}"),
    (r"${NULL-d}|${NULL:-d}|${NULL+a}|${NULL:+a}", "|d|a|"),
    (r"${X-'a b'}", "a b"),
    ("\ufeff$PWD", "/home"),
]


@pytest.mark.parametrize(("source", "expected"), ENV_VAR_TEST)
def test_env_var_table(source: str, expected: object) -> None:
    if expected is ERROR:
        with pytest.raises(ShellWordError, match="failed to process"):
            expand(source, ENV_VAR_ENV)
    else:
        assert expand(source, ENV_VAR_ENV) == expected


# The same rules with "# escape=`": the backslash is an ordinary character.
BACKTICK_TEST: list[tuple[str, object]] = [
    ("he`$PWD", "he$PWD"),
    (r"he\$PWD", r"he\/home"),
    (r"C:\dir\$PWD", r"C:\dir\/home"),
    ('"a`"b"', 'a"b'),
    (r'"a\b"', r"a\b"),
    ('"a``b"', "a`b"),
    ("hello`", "hello"),
    ("'a`b'", "a`b"),
    ('"a`"', ERROR),
]


@pytest.mark.parametrize(("source", "expected"), BACKTICK_TEST)
def test_backtick_escape_table(source: str, expected: object) -> None:
    if expected is ERROR:
        with pytest.raises(ShellWordError):
            expand(source, ENV_VAR_ENV, escape="`")
    else:
        assert expand(source, ENV_VAR_ENV, escape="`") == expected


# TestProcessWithMatches: (input, env, expected, matched, unmatched).
def _m(*names: str) -> frozenset[str]:
    return frozenset(names)


FB = {"FOO": "xxx", "BAR": ""}
MATCHES_TEST: list[tuple[str, dict[str, str], object, frozenset[str], frozenset[str]]] = [
    ("x", {"DUMMY": "dummy"}, "x", _m(), _m()),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", _m(), _m("UNUSED")),
    ("x ${FOO}", {"FOO": "y"}, "x y", _m("FOO"), _m()),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", FB, "xxx  ccc", _m("FOO", "BAR"), _m("BAZ")),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", FB, "xxx bbb ccc", _m("FOO", "BAR"), _m("BAZ")),
    ("${FOO:-}", FB, "xxx", _m("FOO"), _m()),
    ("${FOO:-}", {}, "", _m(), _m("FOO")),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", FB, "aaa bbb ", _m("FOO", "BAR"), _m("BAZ")),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", FB, "aaa  ", _m("FOO", "BAR"), _m("BAZ")),
    ("${FOO?aaa}", FB, "xxx", _m("FOO"), _m()),
    ("${BAR?bbb}", FB, "", _m("BAR"), _m()),
    ("${BAZ?ccc}", FB, ERROR, _m(), _m()),
    ("${FOO:?aaa}", FB, "xxx", _m("FOO"), _m()),
    ("${BAR:?bbb}", FB, ERROR, _m(), _m()),
    ("${BAZ:?ccc}", FB, ERROR, _m(), _m()),
    ("${BAZ:?}", FB, ERROR, _m(), _m()),
    ("${FOO=aaa}", FB, ERROR, _m(), _m()),
    ("${FOO=:aaa}", FB, ERROR, _m(), _m()),
    ("${FOO=}", {}, ERROR, _m(), _m()),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", _m("FOO"), _m()),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", _m("FOO"), _m()),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", _m("FOO"), _m()),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", _m("FOO"), _m()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", _m("FOO", "BAR"), _m()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", _m("FOO", "BAR"), _m()),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", _m("FOO"), _m()),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", _m("FOO"), _m()),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", _m("FOO"), _m()),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", _m("FOO"), _m()),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", _m("FOO"), _m("ABC")),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", _m("FOO"), _m()),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", _m("FOO"), _m()),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", _m("FOO", "BAR"), _m()),
    ("${FOO%y*}|${FOO%%y*}", {"FOO": "xxyy"}, "xxy|xx", _m("FOO"), _m()),
    ("${FOO:#}", {}, ERROR, _m(), _m()),
    ("${FOO:##}", {}, ERROR, _m(), _m()),
    ("${FOO:%}", {}, ERROR, _m(), _m()),
    ("${FOO:%%}", {}, ERROR, _m(), _m()),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
        "/foo.*/*.txt - /foo..*.txt",
        _m("FOO", "NEEDLE"),
        _m(),
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
        "/tmp/bar.txt - /bar.txt",
        _m("FOO", "NEEDLE"),
        _m(),
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
        "/foo/b/c.txt - /foo/c.txt",
        _m("FOO", "NEEDLE", "REPLACEMENT"),
        _m(),
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
        "https://google.de",
        _m("FOO", "NEEDLE", "REPLACEMENT"),
        _m(),
    ),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", _m("FOO"), _m()),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", _m("FOO", "BAR"), _m()),
    ("${FOO//ww}", {"FOO": "xxyy"}, ERROR, _m(), _m()),
    ("${FOO//}", {"FOO": "xxyy"}, ERROR, _m(), _m()),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", _m("FOO"), _m()),
    ("${FOO///}", {}, "", _m(), _m("FOO")),
    # Go's ReplaceAllString (the // form only): "$0" in the (escaped) replacement is the
    # match; no empty match is replaced right after a match.
    ("${FOO//y/<\\$0>}", {"FOO": "xyy"}, "x<\\y><\\y>", _m("FOO"), _m()),
    ("${FOO/y/<\\$0>}", {"FOO": "xyy"}, "x<\\$0>y", _m("FOO"), _m()),
    ("${FOO//*/-}", {"FOO": "ab"}, "-", _m("FOO"), _m()),
    ("${FOO#\\x}", {"FOO": "ab"}, ERROR, _m(), _m()),
    (
        "something-${VERSION}.${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tar.gz",
        {"VERSION": "v1.2.3", "OS": "linux", "ARCH": "arm", "VARIANT": "v7"},
        "something-v1.2.3.linux-arm-v7.tar.gz",
        _m("VERSION", "OS", "ARCH", "VARIANT"),
        _m(),
    ),
    (
        "something-${VERSION}.${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tar.gz",
        {"VERSION": "v1.2.3", "OS": "linux", "ARCH": "arm64"},
        "something-v1.2.3.linux-arm64.tar.gz",
        _m("VERSION", "OS", "ARCH"),
        _m("VARIANT"),
    ),
]


@pytest.mark.parametrize(("source", "env", "expected", "matched", "unmatched"), MATCHES_TEST)
def test_process_with_matches_table(
    source: str,
    env: dict[str, str],
    expected: object,
    matched: frozenset[str],
    unmatched: frozenset[str],
) -> None:
    if expected is ERROR:
        with pytest.raises(ShellWordError):
            Lexer().process(source, env)
        return
    result = Lexer().process(source, env)
    assert (result.result, result.matched, result.unmatched) == (expected, matched, unmatched)


# wordsTest: ProcessWords; the environment grows with the file's ENV lines.
TRAILING = "ab c   "
WORDS_TEST: list[tuple[str, dict[str, str], object]] = [
    ("hello", {}, ["hello"]),
    ("hello${hi}bye", {}, ["hellobye"]),
    ("hello${hi}bye", {"hi": "hi"}, ["hellohibye"]),
    ("hello${space}bye", {"space": "abc  def"}, ["helloabc", "defbye"]),
    ('hello"${space}"bye', {"space": "abc  def"}, ["helloabc  defbye"]),
    ('hello "${space}"bye', {"space": "abc  def"}, ["hello", "abc  defbye"]),
    ("hello${leading}def", {"leading": "  ab c"}, ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', {"leading": "  ab c"}, ["hello  ab c", "def"]),
    ('hello"${leading}"', {"leading": "  ab c"}, ["hello  ab c"]),
    ("hello${leading}", {"leading": "  ab c"}, ["hello", "ab", "c"]),
    ("hello${trailing}", {"trailing": TRAILING}, ["helloab", "c"]),
    ("hello${trailing}d", {"trailing": TRAILING}, ["helloab", "c", "d"]),
    ('hello"${trailing}"d', {"trailing": TRAILING}, ["helloab c   d"]),
    ('hel"lo${trailing}"', {"trailing": TRAILING}, ["helloab c   "]),
    ('hello" there  "', {}, ["hello there  "]),
    ("hello there     ", {}, ["hello", "there"]),
    ("hello\\ there", {}, ["hello there"]),
    ('hello" there', {}, ERROR),
    ('hello\\" there', {}, ['hello"', "there"]),
    # Beyond the file: empty quotes make no word; "ENV a=b c=d" style; nested defaults.
    ('a "" b', {}, ["a", "b"]),
    ("k1=v1 k2='v 2' k3=\"$X\"", {"X": "x y"}, ["k1=v1", "k2=v 2", "k3=x y"]),
    ("a${X:-b c}d e", {}, ["ab", "cd", "e"]),
    ("\t 80/tcp\n443 ", {}, ["80/tcp", "443"]),
]


@pytest.mark.parametrize(("source", "env", "expected"), WORDS_TEST)
def test_words_table(source: str, env: dict[str, str], expected: object) -> None:
    if expected is ERROR:
        with pytest.raises(ShellWordError):
            expand_words(source, env)
    else:
        assert expand_words(source, env) == expected


# BuildKit's lexer switches, as the parser (heredoc detection) and RUN's display use them.
SWITCH_TEST: list[tuple[Lexer, str, str]] = [
    (Lexer(raw_quotes=True), "a'b c'\"$X\"", "a'b c'\"x\""),
    (Lexer(raw_escapes=True), r"a\ b\$X", r"a\ b\$X"),
    (Lexer(skip_process_quotes=True), "echo '$X' \"$X\"", "echo 'x' \"x\""),
    (
        Lexer(skip_unset_env=True),
        "$X $U ${U} ${U:-d} ${U/a/b} ${X:-d}",
        "x $U ${U} ${U:-d} ${U/a/b} x",
    ),
    (Lexer(skip_unset_env=True), "${U:?must}", "${U:?must}"),
    (Lexer(raw_quotes=True, raw_escapes=True, skip_unset_env=True), '<<"EOF"', '<<"EOF"'),
]


@pytest.mark.parametrize(("lexer", "source", "expected"), SWITCH_TEST)
def test_lexer_switches(lexer: Lexer, source: str, expected: str) -> None:
    assert lexer.expand(source, {"X": "x"}) == expected


def test_unset_variable_error_names_the_variable() -> None:
    with pytest.raises(ShellWordError, match=r"VAR: message herex") as info:
        expand("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"})
    assert info.value.variable == "VAR"
    assert isinstance(info.value, InvalidArgument)
    assert info.value.hint is not None
    assert "VAR" in info.value.hint
    with pytest.raises(ShellWordError, match="VAR: is not allowed to be unset"):
        expand("${VAR?}", {})
    assert expand("${VAR?message}", {"VAR": ""}) == ""


def test_syntax_errors_have_no_variable() -> None:
    with pytest.raises(ShellWordError, match="missing '}'") as info:
        expand("${PWD:-x", {})
    assert info.value.variable is None
    with pytest.raises(ShellWordError, match="unsupported modifier"):
        expand("${X:#y}", {})


@pytest.mark.parametrize("escape", ["", "ab", "$", " "])
def test_invalid_escape_character(escape: str) -> None:
    with pytest.raises(InvalidArgument, match="escape character"):
        Lexer(escape=escape)


USED_TEST: list[tuple[str, set[str]]] = [
    ("plain", set()),
    ("$A ${B} ${C:-$D} ${E:+${F}} ${G?$H} ${I#$J} ${K/$L/$M}", set("ABCDEFGHIJKLM")),
    ("'$A' \"$B\" \\$C", {"B"}),
    ("$1 $@", {"1", "@"}),
    ("${X:?}", {"X"}),
]


@pytest.mark.parametrize(("source", "expected"), USED_TEST)
def test_used_variables(source: str, expected: set[str]) -> None:
    assert used_variables(source) == expected


def test_used_variables_reports_syntax_errors() -> None:
    with pytest.raises(ShellWordError):
        used_variables("${A")


# Properties.
PLAIN = st.text(alphabet=string.ascii_letters + string.digits + " \t-_./:@,;=+%#{}*?")
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


@given(PLAIN)
def test_plain_word_expands_to_itself(word: str) -> None:
    assert expand(word, {"A": "b"}) == word
    assert expand_words(word, {}) == word.split()


@given(st.text().filter(lambda s: "'" not in s))
def test_single_quotes_are_literal(text: str) -> None:
    assert expand(f"'{text}'", {"A": "b"}) == text


@given(st.text(), st.sampled_from(["\\", "`"]))
def test_escaping_every_character_is_literal(text: str, escape: str) -> None:
    escaped = "".join(escape + ch for ch in text)
    assert expand(escaped, {"A": "b"}, escape=escape) == text


@given(NAMES, st.text())
def test_variable_reference_expands_and_is_reported(name: str, value: str) -> None:
    env = {name: value}
    assert expand("$" + name, env) == value
    assert expand("${" + name + "}", env) == value
    assert expand("${" + name + ":-x}", {}) == "x"
    assert used_variables("a${" + name + "}b") == {name}
