"""Desired-state files from a pull request are read defensively.

Each case was a reproduction: a symbolic link to a credential outside the directory was
followed and its first characters printed; a 10 MB file took over a minute; a non-UTF-8
file got a byte offset and a false "file is empty"; a value that failed to parse was
echoed at length. Each file gets one problem at its line, and nothing of a secret.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from reconciler.desired import Problem, check_desired_state
from reconciler.desired import load as load_module
from reconciler.desired.sources import MAX_FILE_BYTES

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = dt.date(2026, 11, 27)
ADMIN_KEY = "sk-" + "AdminKey0123456789abcdefghijklmnopqrstuv"
DEV_HEAD = "version: 1\nworkspace:\n  name: dev\n"


@pytest.fixture
def desired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the valid fixture, as ``ds`` in the working directory."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES / "valid", tmp_path / "ds")
    return Path("ds")


def problems(directory: Path) -> list[Problem]:
    result = check_desired_state(directory, today=TODAY)
    assert result.state is None
    return list(result.problems)


def only(directory: Path) -> str:
    """The one problem reported, as validate prints it."""
    found = problems(directory)
    assert len(found) == 1, [p.render() for p in found]
    return found[0].render()


def test_a_symlink_out_of_the_directory_is_not_followed(desired: Path, tmp_path: Path) -> None:
    secret = tmp_path / "admin-key"
    secret.write_text(ADMIN_KEY + "\n")
    (desired / "workspaces" / "evil.yaml").symlink_to(secret)
    line = only(desired)
    assert line.startswith("ds/workspaces/evil.yaml: error: a symbolic link to a file outside ds/")
    assert "sk-" not in line and "Admin" not in line


def test_a_linked_folder_out_of_the_directory_is_not_followed(
    desired: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    shutil.move(desired / "workspaces", outside)
    (desired / "workspaces").symlink_to(outside)
    found = problems(desired)
    assert {p.file for p in found} == {"ds/workspaces/dev.yaml", "ds/workspaces/ml.yaml"}
    assert all("symbolic link" in p.message for p in found)


def test_a_symlink_inside_the_directory_is_followed(desired: Path) -> None:
    (desired / "shared").mkdir()
    shutil.move(desired / "workspaces" / "ml.yaml", desired / "shared" / "ml.yaml")
    (desired / "workspaces" / "ml.yaml").symlink_to(Path("..") / "shared" / "ml.yaml")
    assert check_desired_state(desired, today=TODAY).ok


def test_a_secret_read_as_a_value_is_not_echoed(desired: Path) -> None:
    (desired / "workspaces" / "evil.yaml").write_text(ADMIN_KEY + "\n")
    line = only(desired)
    assert line == (
        "ds/workspaces/evil.yaml:1:1: error: expected a mapping with 'version' and "
        "'workspace', got a string that looks like a secret (43 characters, not shown)"
    )


def test_a_long_value_is_cut_to_a_short_prefix(desired: Path) -> None:
    dev = desired / "workspaces" / "dev.yaml"
    dev.write_text(
        dev.read_text().replace(
            "  name: dev\n", "  name: dev\n  protected: maybe on some days of the week\n"
        )
    )
    assert only(desired).endswith(
        "workspace.protected: expected true or false, got the string 'maybe on s…' (30 characters)"
    )


def test_a_file_over_the_size_limit_is_not_parsed(desired: Path) -> None:
    big = desired / "workspaces" / "big.yaml"
    big.write_text(DEV_HEAD + "#" * MAX_FILE_BYTES)
    # just over the limit: in bytes, not a rounding that reads "1.0 MiB, at most 1.0 MiB"
    size = f"{len(DEV_HEAD) + MAX_FILE_BYTES:,}"
    assert only(desired) == (
        f"ds/workspaces/big.yaml: error: {size} bytes: a desired-state file may be at most "
        "1,048,576 bytes (1.0 MiB); not read"
    )


@pytest.mark.parametrize("grown", [False, True])
def test_a_file_that_grows_while_read_is_read_to_its_end_or_refused(
    desired: Path, monkeypatch: pytest.MonkeyPatch, grown: bool
) -> None:
    """The size taken before reading is where reading starts, not where it stops."""
    big = desired / "workspaces" / "big.yaml"
    if grown:
        big.write_text(DEV_HEAD + "#" * MAX_FILE_BYTES)
    real_fstat = os.fstat

    def shrunk(fd: int) -> os.stat_result:  # as if taken before the file grew
        fields = list(real_fstat(fd))
        fields[6] = min(fields[6], 12)  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", shrunk)
    if grown:
        assert only(desired).endswith(
            " bytes: a desired-state file may be at most 1,048,576 bytes (1.0 MiB); not read"
        )
    else:
        assert check_desired_state(desired, today=TODAY).ok


def test_the_directory_has_a_total_size_limit(
    desired: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {p.name: p.stat().st_size for p in (desired / "workspaces").iterdir()}
    organization_and_roles = sum(
        (desired / name).stat().st_size for name in ("organization.yaml", "roles.yaml")
    )
    monkeypatch.setattr(
        load_module, "MAX_TOTAL_BYTES", organization_and_roles + sizes["dev.yaml"] + 1
    )
    line = only(desired)
    assert line.startswith("ds/workspaces/ml.yaml: error: not read: with this file's 0.0 MiB")


def test_non_utf8_is_located_by_line_and_column(desired: Path) -> None:
    bad = desired / "workspaces" / "ml.yaml"
    bad.write_bytes(b"version: 1\nworkspace:\n  name: caf\xe9\n")
    assert only(desired) == (
        "ds/workspaces/ml.yaml:3:12: error: not UTF-8 text (byte 0xe9: invalid continuation "
        "byte); save it as UTF-8"
    )


def test_utf16_is_named(desired: Path) -> None:
    bad = desired / "workspaces" / "ml.yaml"
    bad.write_bytes((desired / "workspaces" / "ml.yaml").read_text().encode("utf-16"))
    assert only(desired) == "ds/workspaces/ml.yaml:1:1: error: UTF-16 text: save the file as UTF-8"


def test_a_utf8_byte_order_mark_is_fine(desired: Path) -> None:
    ml = desired / "workspaces" / "ml.yaml"
    ml.write_bytes(b"\xef\xbb\xbf" + ml.read_bytes())
    assert check_desired_state(desired, today=TODAY).ok


@pytest.mark.parametrize("pure", [False, True])
def test_a_tab_in_the_indentation_is_named(desired: Path, pure: bool) -> None:
    ml = desired / "workspaces" / "ml.yaml"
    lines = ml.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("  name:"))
    lines[index] = "\t" + lines[index][2:]
    ml.write_text("".join(lines))
    found = check_desired_state(desired, today=TODAY, pure_python_yaml=pure).problems
    assert [p.render() for p in found] == [
        f"ds/workspaces/ml.yaml:{index + 1}:1: error: invalid YAML: a tab character here: "
        "YAML indents and separates with spaces"
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_not_read_and_says_so(desired: Path) -> None:
    os.mkfifo(desired / "workspaces" / "pipe.yaml")  # not opened: nothing waits on it
    assert only(desired) == (
        "ds/workspaces/pipe.yaml: error: not a plain file (a named pipe, a socket or a "
        "device): not read"
    )


# A workspace file that cannot be read is an error, never a workspace left out: its keys
# would otherwise be taken as no longer declared, with nothing said.


def test_a_link_to_nothing_is_an_error_not_a_workspace_left_out(desired: Path) -> None:
    (desired / "workspaces" / "dev.yaml").unlink()
    (desired / "workspaces" / "dev.yaml").symlink_to("../shared/dev.yaml")  # not checked out
    assert only(desired) == (
        "ds/workspaces/dev.yaml: error: a symbolic link to a file that does not exist: not read"
    )


def test_a_folder_named_as_a_workspace_file_is_an_error(desired: Path) -> None:
    (desired / "workspaces" / "prod.yaml").mkdir()
    (desired / "workspaces" / "prod.yaml" / "keys.yaml").write_text(DEV_HEAD)
    assert only(desired) == "ds/workspaces/prod.yaml: error: a folder, not a file: not read"


def test_a_top_file_that_is_not_a_file_says_what_it_is(desired: Path) -> None:
    """Not "missing file": the file is there, as a link to nothing; a people.yaml that is
    a folder is an error too, not people left unmanaged."""
    (desired / "roles.yaml").unlink()
    (desired / "roles.yaml").symlink_to("nowhere.yaml")
    (desired / "people.yaml").mkdir()
    assert sorted(p.render() for p in problems(desired)) == [
        "ds/people.yaml: error: a folder, not a file: not read",
        "ds/roles.yaml: error: a symbolic link to a file that does not exist: not read",
    ]


def test_a_loop_of_links_is_an_error_not_a_crash(desired: Path) -> None:
    """``validate`` stopped at the first such name with the system's message, no other
    problem listed."""
    (desired / "workspaces" / "loop.yml").symlink_to("loop.yml")
    (desired / "groups.yml").symlink_to("groups.yml")
    assert sorted(p.render() for p in problems(desired)) == [
        "ds/groups.yml: error: a symbolic link or a name that cannot be followed: not read",
        "ds/workspaces/loop.yml: error: a symbolic link or a name that cannot be followed: "
        "not read",
    ]
