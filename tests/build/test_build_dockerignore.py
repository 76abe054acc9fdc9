""".dockerignore: reading (ignorefile.ReadAll) and matching (patternmatcher), from their tests.

Sources: moby/patternmatcher patternmatcher_test.go (TestMatches, TestMatch's table from Go's
filepath.Match tests, the single-case tests) and ignorefile/ignorefile_test.go; the walker rule
is tonistiigi/fsutil's (skip an excluded directory only when no exception can reach inside).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.build.dockerfile.dockerignore import (
    Matcher,
    dockerignore_for,
    parse_dockerignore,
)
from dockyard.errors import InvalidArgument

# TestMatches: (pattern, path, excluded) with the parent-directory rule
# (MatchesOrParentMatches). Its two rows for the path "/" are left out: here the context root
# is never excluded.
MATCHES: list[tuple[str, str, bool]] = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        True,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    # TestMatch: Go's filepath.Match table, through patternmatcher.
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
    # The single-case tests.
    ("*", "fileutils.go", True),
    ("*.go", "fileutils.go", True),
    ("*.go", ".", False),
    # Docker's plain-string shortcuts, kept as they are.
    ("**file", "dir/xfile", True),
    ("a**", "abc/def", True),
    ("build", "build/x/y", True),
    ("build", "buildx", False),
    ("/build", "build", True),
    ("./build/", "build/x", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCHES)
def test_single_pattern_table(pattern: str, path: str, expected: bool) -> None:
    matcher = Matcher(parse_dockerignore(pattern))
    assert matcher.excluded(path) is expected
    assert matcher.excluded(path, is_dir=True) is expected
    assert (matcher.excluded_by(path) is not None) is expected


# Several patterns: the last match wins; exceptions re-include.
MULTI: list[tuple[list[str], str, bool]] = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    ([], "any/path/there", False),
    (["*", "!src", "src/*.tmp"], "src/a.tmp", True),
    (["*", "!src", "src/*.tmp"], "src/a.py", False),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
]


@pytest.mark.parametrize(("patterns", "path", "expected"), MULTI)
def test_multi_pattern_table(patterns: list[str], path: str, expected: bool) -> None:
    assert Matcher(patterns).excluded(path) is expected


EXCLUDED_BY: list[tuple[list[str], str, str | None]] = [
    (["build", "*.log"], "build/out/a.o", "build"),
    (["build", "*.log"], "x.log", "*.log"),
    (["build", "*.log"], "src/x.log", None),
    (["/build/", "!build/keep", "**/*.o"], "build/keep/a.o", "**/*.o"),
    (["*", "!keep"], "keep", None),
]


@pytest.mark.parametrize(("patterns", "path", "expected"), EXCLUDED_BY)
def test_excluded_by_names_the_deciding_pattern(
    patterns: list[str], path: str, expected: str | None
) -> None:
    assert Matcher(parse_dockerignore("\n".join(patterns))).excluded_by(path) == expected


# fsutil's walker rule: (patterns, directory, must the walker look inside?).
DESCEND: list[tuple[list[str], str, bool]] = [
    (["build"], "build", False),
    (["build"], "src", True),
    (["build"], ".", True),
    (["build", "!build/keep"], "build", True),
    (["build", "!build/keep"], "build/other", False),
    (["build", "!build/keep/deep"], "build/keep", True),
    (["build", "!build/*"], "build", True),
    (["build", "!build/sub/**"], "build/sub", True),
    (["build", "!**/*.keep"], "build", True),
    (["build", "![a]"], "build", True),
    (["a", "!b/c"], "a", False),
    (["*", "!src"], "node_modules", False),
    (["*", "!src"], "src", True),
]


@pytest.mark.parametrize(("patterns", "directory", "expected"), DESCEND)
def test_should_descend_table(patterns: list[str], directory: str, expected: bool) -> None:
    assert Matcher(patterns).should_descend(directory) is expected


INVALID: list[tuple[str, str]] = [
    # Go's filepath.Match syntax errors.
    ("[]a]", "syntax error"),
    ("[-]", "syntax error"),
    ("[x-]", "syntax error"),
    ("[-x]", "syntax error"),
    ("\\", "syntax error"),
    ("[a-b-c]", "syntax error"),
    ("[", "syntax error"),
    ("[^", "syntax error"),
    ("[^bc", "syntax error"),
    ("a[", "syntax error"),
    ("!", "illegal exclusion"),
    # Go's regexp rejects these when the pattern is first used.
    ("[Local-Only]/", "range l-O"),
    ("[z-a]", "range z-a"),
    # Docker gives these a regular-expression meaning: refused, never guessed.
    ("\\d", "escape"),
    ("a\\é", "escape"),
    ("[[:alpha:]]", "POSIX"),
    ("[*]", "inside"),
    ("[a?]", "inside"),
]


@pytest.mark.parametrize(("pattern", "message"), INVALID)
def test_invalid_patterns(pattern: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as info:
        Matcher([pattern])
    assert repr(pattern) in info.value.message
    assert info.value.hint


READ_ALL_CONTENT = """test1
/test2
/a/file/here

lastfile
# this is a comment
! /inverted/abs/path
!
! """

PARSE: list[tuple[str, tuple[str, ...]]] = [
    (
        READ_ALL_CONTENT,
        ("test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"),
    ),
    ("", ()),
    ("\ufeff# comment\r\nbuild\r\n", ("build",)),
    ("  # not a comment\n", ("# not a comment",)),
    ("dir/\n./x\na/../b\n//c//d/\n/\n", ("dir", "x", "b", "c/d", "/")),
    ("!  spaced/ \n\t*.log\t\n", ("!spaced", "*.log")),
    ("../out\n/../up\n", ("../out", "up")),
]


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_parse_dockerignore(text: str, expected: tuple[str, ...]) -> None:
    assert parse_dockerignore(text) == expected


def test_lone_exclamation_from_file_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="illegal exclusion"):
        Matcher(parse_dockerignore(READ_ALL_CONTENT))


def test_blank_patterns_are_skipped() -> None:
    matcher = Matcher(["docs", "config", "", "   "])
    assert [str(p) for p in matcher.patterns] == ["docs", "config"]
    assert not matcher.has_exceptions
    assert Matcher(["docs", "  !docs/README.md  "]).has_exceptions


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("Dockerfile", ("Dockerfile.dockerignore", ".dockerignore")),
        ("app.Dockerfile", ("app.Dockerfile.dockerignore", ".dockerignore")),
        ("docker/app.Dockerfile", ("docker/app.Dockerfile.dockerignore", ".dockerignore")),
    ],
)
def test_dockerignore_for(dockerfile: str, expected: tuple[str, ...]) -> None:
    assert dockerignore_for(dockerfile) == expected


# Properties.
SEGMENT = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)
LITERAL = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)


@given(LITERAL, SEGMENT)
def test_literal_pattern_matches_itself_and_below(pattern: str, child: str) -> None:
    matcher = Matcher(parse_dockerignore(pattern))
    assert matcher.excluded(pattern)
    assert matcher.excluded_by(pattern + "/" + child) == pattern
    assert not matcher.excluded(pattern + "x")
    assert not matcher.excluded("~other/" + pattern)
    assert not matcher.should_descend(pattern)


@given(LITERAL)
def test_exception_after_pattern_wins(pattern: str) -> None:
    matcher = Matcher([pattern, "!" + pattern])
    assert not matcher.excluded(pattern)
    assert matcher.should_descend(pattern)
    assert Matcher(["!" + pattern, pattern]).excluded(pattern)


@given(LITERAL)
def test_leading_slash_and_trailing_slash_are_cleaned(pattern: str) -> None:
    assert parse_dockerignore(f"/{pattern}/\n") == (pattern,)
