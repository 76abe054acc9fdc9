"""docker's --format templates: expected outputs are what Go's text/template and docker print."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard._util.gotext import go_quote
from dockyard.cli.template import (
    TemplateError,
    parse,
    render,
    render_table,
    split_table,
    table_header,
    tabwrite,
)
from dockyard.errors import InvalidArgument


@dataclass(frozen=True)
class Row:
    ID: str
    repo_tags: list[str] = field(default_factory=list)
    created_at: str = "2024-01-01"
    state: object = None

    def Status(self) -> str:  # Go-style method names, as templates call them
        return "Up 2 minutes"

    def Label(self, key: str) -> str:
        return f"label:{key}"

    def Boom(self) -> str:
        raise RuntimeError("kaput")

    @property
    def Broken(self) -> str:
        raise KeyError("gone")


@dataclass(frozen=True)
class Exported:
    Name: str

    def to_json(self) -> dict[str, object]:
        return {"Name": self.Name, "Kind": "exported"}


ROW = Row(ID="0123456789abcdef", repo_tags=["busybox:latest", "busybox:1"])

CASES = [
    # fields, nesting, missing keys, nil, dot and $
    ("field", "{{.Name}}", {"Name": "web"}, "web"),
    ("nested", "{{.Config.Image}}", {"Config": {"Image": "busybox"}}, "busybox"),
    ("missing key", "{{.Nope}}", {}, "<no value>"),
    ("missing nested", "{{.A.B.C}}", {}, "<no value>"),
    ("nil value", "{{.Health}}", {"Health": None}, "<nil>"),
    ("dot", "{{.}}", "plain", "plain"),
    ("root var", "{{range .L}}{{$.Name}}{{.}}{{end}}", {"Name": "x", "L": [1, 2]}, "x1x2"),
    ("attribute", "{{.ID}}", ROW, "0123456789abcdef"),
    ("snake case", "{{.RepoTags}} {{.CreatedAt}}", ROW, "[busybox:latest busybox:1] 2024-01-01"),
    ("method", "{{.Status}}", ROW, "Up 2 minutes"),
    ("method args", '{{.Label "com.x"}}', ROW, "label:com.x"),
    ("method piped", '{{"k" | .Label}}', ROW, "label:k"),
    ("var fields", "{{$r := .}}{{$r.Config.Image}}", {"Config": {"Image": "i"}}, "i"),
    ("paren fields", "{{(index .L 0).Name}}", {"L": [{"Name": "n"}]}, "n"),
    # Go's default formatting
    ("scalars", "{{.N}} {{.B}} {{.F}}", {"N": 3, "B": False, "F": 0.5}, "3 false 0.5"),
    ("floats", "{{2.0}} {{1e6}} {{123456.0}} {{1e-5}}", None, "2 1e+06 123456 1e-05"),
    ("list", "{{.L}}", {"L": ["a", "b"]}, "[a b]"),
    ("empty list", "{{.L}}", {"L": []}, "[]"),
    ("map sorted", "{{.M}}", {"M": {"b": 2, "a": 1}}, "map[a:1 b:2]"),
    ("struct", "{{.}}", Row(ID="x"), "{x [] 2024-01-01 <nil>}"),
    ("string escapes", '{{"a\\tb\\u00e9"}}', None, "a\tbé"),
    ("raw string", "{{`a\\nb`}}", None, "a\\nb"),
    ("char constant", "{{'a'}}", None, "97"),
    ("negative number", "{{-3}}", None, "-3"),
    # json (docker's: compact, no HTML escaping)
    ("json map", "{{json .}}", {"b": [1, "x"], "a": None}, '{"b":[1,"x"],"a":null}'),
    ("json html", "{{json .S}}", {"S": "<a&b>"}, '"<a&b>"'),
    ("json list", "{{json .L}}", {"L": ["a", "b"]}, '["a","b"]'),
    ("json escapes", "{{json .S}}", {"S": 'é"\n\u2028'}, '"é\\"\\n\\u2028"'),
    (
        "json numbers",
        "{{json .}}",
        [1.0, 0.1, 1e21, 1e-7, 1e20],
        "[1,0.1,1e+21,1e-7,100000000000000000000]",
    ),
    ("json missing", "{{json .Nope}}", {}, "null"),
    (
        "json dataclass",
        "{{json .}}",
        Row(ID="x"),
        '{"ID":"x","repo_tags":[],"created_at":"2024-01-01","state":null}',
    ),
    ("json to_json", "{{json .}}", Exported(Name="n"), '{"Name":"n","Kind":"exported"}'),
    # range
    ("range index", "{{range $i, $e := .}}{{$i}}:{{$e}} {{end}}", ["a", "b"], "0:a 1:b "),
    ("range one var", "{{range $e := .}}{{$e}}{{end}}", [1, 2], "12"),
    ("range else", "{{range .}}x{{else}}empty{{end}}", [], "empty"),
    ("range missing", "{{range .Nope}}x{{else}}none{{end}}", {}, "none"),
    ("range map", "{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", {"b": "2", "a": "1"}, "a=1;b=2;"),
    ("range map dot", "{{range .}}{{.}}{{end}}", {"b": "2", "a": "1"}, "12"),
    ("range int", "{{range 3}}{{.}}{{end}}", None, "012"),
    (
        "break continue",
        "{{range .}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}",
        [0, 1, 2, 3, 4],
        "02",
    ),
    # if / else if / with
    ("if", "{{if .A}}a{{else if .B}}b{{else}}c{{end}}", {"A": 1}, "a"),
    ("else if", "{{if .A}}a{{else if .B}}b{{else}}c{{end}}", {"A": 0, "B": "x"}, "b"),
    ("else", "{{if .A}}a{{else if .B}}b{{else}}c{{end}}", {"A": 0, "B": ""}, "c"),
    (
        "falsy",
        "{{if .L}}1{{end}}{{if .M}}2{{end}}{{if .N}}3{{end}}{{if .X}}4{{end}}",
        {"L": [], "M": {}, "N": None},
        "",
    ),
    ("struct true", "{{if .}}yes{{end}}", Row(ID=""), "yes"),
    ("with", "{{with .User}}{{.Name}}{{else}}anon{{end}}", {"User": {"Name": "bob"}}, "bob"),
    ("with else", "{{with .User}}{{.Name}}{{else}}anon{{end}}", {"User": None}, "anon"),
    ("else with", "{{with .A}}a{{else with .B}}{{.}}{{end}}", {"B": "b"}, "b"),
    ("with var", "{{with $x := .A}}{{$x}}{{.}}{{end}}", {"A": "v"}, "vv"),
    # variables
    ("declare", "{{$x := .A}}{{$x}}", {"A": 7}, "7"),
    ("assign", "{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", None, "2"),
    ("shadow", "{{$x := 1}}{{range .}}{{$x := .}}{{end}}{{$x}}", [5], "1"),
    # pipelines
    ("pipe", "{{.Name | upper}}", {"Name": "web"}, "WEB"),
    ("pipe last arg", '{{.Name | printf "%s-%s" "x"}}', {"Name": "web"}, "x-web"),
    ("pipe chain", '{{.S | lower | printf "<%s>"}}', {"S": "AB"}, "<ab>"),
    ("paren arg", '{{len (split .S ":")}}', {"S": "a:b:c"}, "3"),
    ("paren pipe", "{{(index .L 1) | upper}}", {"L": ["a", "b"]}, "B"),
    # printf
    ("printf verbs", '{{printf "%s %d %v %t %%" "a" 42 1.5 true}}', None, "a 42 1.5 true %"),
    ("printf width", '{{printf "%5s|%-5s|%05d|%+d" "ab" "ab" 42 3}}', None, "   ab|ab   |00042|+3"),
    ("printf quote", '{{printf "%q" "a\\"b\\n"}}', None, '"a\\"b\\n"'),
    (
        "printf float",
        '{{printf "%.2f %6.1f %e" 3.14159 2.0 1234.5}}',
        None,
        "3.14    2.0 1.234500e+03",
    ),
    ("printf hex", '{{printf "%x %X %x" 255 255 "hi"}}', None, "ff FF 6869"),
    ("printf precision", '{{printf "%.3s" "abcdef"}}', None, "abc"),
    ("printf list", '{{printf "%v" .}}', ["a", 1], "[a 1]"),
    ("printf nil", '{{printf "%v" .Nope}}', {}, "<nil>"),
    ("printf bad verb", '{{printf "%d" "x"}}', None, "%!d(string=x)"),
    ("printf missing", '{{printf "%s %s" "a"}}', None, "a %!s(MISSING)"),
    ("printf extra", '{{printf "%s" "a" 1}}', None, "a%!(EXTRA int=1)"),
    ("print", '{{print "a" 1 2 "b"}}', None, "a1 2b"),
    ("print nil", "{{print nil}}", None, "<nil>"),
    ("println", '{{println "a" 1}}', None, "a 1\n"),
    # collections
    ("join", '{{join .L ", "}}', {"L": ["a", "b"]}, "a, b"),
    ("split", '{{split "a:b:c" ":"}}', None, "[a b c]"),
    ("index map", '{{index .M "k"}}', {"M": {"k": "v"}}, "v"),
    ("index map missing", '{{index .M "z"}}', {"M": {"k": "v"}}, ""),
    ("index list", "{{index .L 1}}", {"L": ["a", "b"]}, "b"),
    ("index nested", "{{index . 1 0}}", [[1, 2], [3, 4]], "3"),
    ("index string", '{{index "abc" 1}}', None, "98"),
    ("len", '{{len .L}} {{len .M}} {{len "héllo"}}', {"L": [1, 2], "M": {"a": 1}}, "2 1 6"),
    (
        "slice",
        '{{slice .L 1}} {{slice .L 1 2}} {{slice "abcdef" 1 3}}',
        {"L": ["a", "b", "c"]},
        "[b c] [b] bc",
    ),
    # comparisons and logic
    ("eq many", '{{eq .S "a" "b"}}', {"S": "b"}, "true"),
    ("eq nil", '{{eq .Nope "a"}}', {}, "false"),
    (
        "ordering",
        '{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}} {{ne 1 2}}',
        None,
        "true true true false true",
    ),
    (
        "and or not",
        '{{and 1 0 2}} {{and 1 2}} {{or 0 "" "x"}} {{or 0 ""}} {{not 0}}',
        None,
        "0 2 x  true",
    ),
    ("and short circuit", "{{if and .A (index .A 0)}}y{{else}}n{{end}}", {"A": []}, "n"),
    # docker's string functions
    ("title", '{{title "hello wORLD-foo_bar"}}', None, "Hello WORLD-Foo_bar"),
    ("lower upper", '{{lower "AbC"}}{{upper "AbC"}}', None, "abcABC"),
    ("pad", '[{{pad .S 2 1}}][{{pad "" 2 1}}]', {"S": "ab"}, "[  ab ][]"),
    ("truncate", '{{truncate .ID 12}} {{truncate "ab" 12}}', ROW, "0123456789ab ab"),
    # trim markers and comments
    ("trim", "a  {{- .X -}}  b", {"X": 1}, "a1b"),
    ("trim newlines", "{{range .}}\n  {{- .}}\n{{- end}}", [1, 2], "12"),
    ("trim one side", "a {{- 3}} {{3 -}} b", None, "a3 3b"),
    ("comment", " x {{/* c */}} y", None, " x  y"),
    ("trimmed comment", "x {{- /* c */ -}} y", None, "xy"),
    ("braces in text", "}} {x}", None, "}} {x}"),
    ("braces in string", '{{"}}"}}', None, "}}"),
]


@pytest.mark.parametrize(
    ("text", "data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_render(text: str, data: object, expected: str) -> None:
    assert render(text, data) == expected


def test_parse_once_execute_many() -> None:
    template = parse("{{.ID}}:{{len .RepoTags}}")
    assert [template.execute(Row(ID=i, repo_tags=[i] * n)) for n, i in enumerate("ab")] == [
        "a:0",
        "b:1",
    ]


PARSE_ERRORS = [
    ("{{foo}}", 'template parsing error: template: :1: function "foo" not defined'),
    ("a\n{{bar 1}}", 'template parsing error: template: :2: function "bar" not defined'),
    ("{{.X", "template: :1: unclosed action"),
    ("{{if .X}}a", "template: :1: unexpected EOF"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if 1}}{{else}}{{else}}{{end}}", "expected end; found {{else}}"),
    ("{{$y}}", 'undefined variable "$y"'),
    ("{{range .}}{{$e := 1}}{{end}}{{$e}}", 'undefined variable "$e"'),
    ('{{"abc}}', "unterminated quoted string"),
    ("{{(.X}}", "unclosed left paren"),
    ("{{.X)}}", "unexpected right paren"),
    ("{{}}", "missing value for command"),
    ("{{if}}{{end}}", "missing value for if"),
    ("{{.X !}}", "unrecognized character in action"),
    ("{{/* x }}", "unclosed comment"),
    ("{{break}}", "{{break}} outside {{range}}"),
    ("{{range $a, $b, $c := .}}{{end}}", "too many declarations in range"),
    ("{{3 | 4}}", "non executable command in pipeline stage 2"),
    ('{{define "x"}}{{end}}', "{{define}} is not supported"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(text)
    assert message in str(info.value)
    assert str(info.value).startswith("template parsing error: template: :")
    assert isinstance(info.value, InvalidArgument)


EXEC_ERRORS = [
    (
        "{{.Nope}}",
        ROW,
        'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type Row',
    ),
    (
        "x\n  {{.ID.X}}",
        ROW,
        'template: :2:4: executing "" at <.ID.X>: can\'t evaluate field X in type string',
    ),
    ("{{.H.Status}}", {"H": None}, "nil pointer evaluating interface {}.Status"),
    ("{{index .L 5}}", {"L": [1]}, "at <index .L 5>: error calling index: index out of range: 5"),
    ("{{upper 1}}", None, "wrong type for value; expected string; got int"),
    ("{{upper}}", None, "wrong number of args for upper: want 1 got 0"),
    ('{{eq 1 "a"}}', None, "error calling eq: incompatible types for comparison"),
    ("{{lt true false}}", None, "error calling lt: invalid type for comparison"),
    ("{{range .}}{{end}}", "text", "range can't iterate over text"),
    ("{{.ID 1}}", ROW, "ID has arguments but cannot be invoked as function"),
    ("{{len 3}}", None, "error calling len: len of type int"),
    ("{{.Boom}}", ROW, "error calling Boom: kaput"),
    ("{{.Broken}}", ROW, "error calling Broken: 'gone'"),
    ("{{nil}}", None, "nil is not a command"),
    ("{{1 2}}", None, "can't give argument to non-function 1 2"),
]


@pytest.mark.parametrize(("text", "data", "message"), EXEC_ERRORS)
def test_exec_errors(text: str, data: object, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text, data)
    assert message in str(info.value)
    assert str(info.value).startswith("template: :")


IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Size": "SIZE"}
IMAGES = [
    {"Repository": "busybox", "Tag": "latest", "ID": "a416a98b71e2", "Size": "4.26MB"},
    {
        "Repository": "docker.io/library/alpine",
        "Tag": "3.19",
        "ID": "05455a08881e",
        "Size": "7.38MB",
    },
]


def test_render_table_aligns_like_docker_images() -> None:
    text = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}"
    assert render_table(text, IMAGES, IMAGE_HEADERS) == (
        "REPOSITORY                 TAG       IMAGE ID       SIZE\n"
        "busybox                    latest    a416a98b71e2   4.26MB\n"
        "docker.io/library/alpine   3.19      05455a08881e   7.38MB\n"
    )


def test_render_table_without_rows_prints_the_header() -> None:
    assert render_table("{{.ID}}\t{{.Tag}}", [], IMAGE_HEADERS) == "IMAGE ID   TAG\n"


HEADERS = [
    ("{{.Repository}}\t{{.ID}}", "REPOSITORY\tIMAGE ID"),
    ("{{.Digest}}", "DIGEST"),
    ("{{.Names | json}}:{{upper .Tag}}:{{truncate .ID 3}}", "NAMES:TAG:IMAGE ID"),
    ("[{{pad .Tag 1 1}}]", "[ TAG ]"),
    ("{{.State.Status}}", "STATUS"),
    ('{{.ID}}\t{{index .Tag "k"}} rest', "IMAGE ID\t"),  # docker ignores header errors
]


@pytest.mark.parametrize(("text", "expected"), HEADERS)
def test_table_header(text: str, expected: str) -> None:
    assert table_header(text, IMAGE_HEADERS) == expected


TABWRITER = [
    ("a\tb\tc\nlonger name\tx\n", "a             b         c\nlonger name   x\n"),
    # a line without a tab ends the column block
    ("a\tb\nno tabs\nccccccccccccccc\td\n", "a         b\nno tabs\nccccccccccccccc   d\n"),
    # trailing text is not a column; empty cells are padded
    ("x\t\ty\n", "x                   y\n"),
    ("日本\tx\n", "日本      x\n"),
    ("no newline\tat end", "no newline   at end"),
]


@pytest.mark.parametrize(("text", "expected"), TABWRITER)
def test_tabwrite(text: str, expected: str) -> None:
    assert tabwrite(text) == expected


SPLITS = [
    ("table {{.ID}}\\t{{.Name}}", (True, "{{.ID}}\t{{.Name}}")),
    ("table", (True, "")),
    ("{{.ID}}", (False, "{{.ID}}")),
    ("  {{.ID}}\\n ", (False, "{{.ID}}\n")),
    ("json", (False, "{{json .}}")),
]


@pytest.mark.parametrize(("text", "expected"), SPLITS)
def test_split_table(text: str, expected: tuple[bool, str]) -> None:
    assert split_table(text) == expected


@given(st.text().filter(lambda s: "{{" not in s))
def test_plain_text_renders_to_itself(text: str) -> None:
    assert render(text, {"X": 1}) == text


@given(st.text())
def test_string_literals_round_trip(text: str) -> None:
    assert render("{{" + go_quote(text) + "}}", None) == text


@given(st.text(alphabet=st.sampled_from(list("{}.$|()-:= \"'`aif\nendrange0,/*")), max_size=40))
def test_arbitrary_templates_fail_only_with_template_error(text: str) -> None:
    try:
        out = render(text, {"a": [1, {"b": "c"}]})
    except TemplateError as err:
        out = str(err)
        prefixes = ("template: :", "template parsing error: template: ")
    else:
        prefixes = ("",)
    assert isinstance(out, str)
    assert out.startswith(prefixes)
