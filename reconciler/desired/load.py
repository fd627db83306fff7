"""Load ``desired-state/`` into a :class:`~reconciler.model.DesiredState`, or say why not.

Layout (version 1)::

    desired-state/
      organization.yaml        version, organization: provider, spend limit, key hygiene,
                               vault, safety
      roles.yaml               version, roles: application roles (models, token caps)
      workspaces/<name>.yaml   version, workspace: members, policy, API keys
      people.yaml              version, people: the organisation's members (optional)
      groups.yaml              version, groups: user groups (optional)

A directory of several organisations (:mod:`.orgs`) is not one desired state: loading it
says so and names them.

Every file is read and checked even when others are broken, and every problem is
reported at once. The provider ``organization.yaml`` names (:mod:`reconciler.providers`)
supplies the workspace role names, the model catalog and the defaults. Reads files only;
never writes, never contacts anything.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from reconciler.desired import convert
from reconciler.desired.catalog import Catalog, load_catalog
from reconciler.desired.checks import Checker, check_all
from reconciler.desired.orgs import is_multi_org, several_message
from reconciler.desired.people_checks import check_people
from reconciler.desired.problems import Problem, Severity
from reconciler.desired.schema import (
    GroupsFile,
    OrganizationFile,
    PeopleFile,
    RolesFile,
    WorkspaceDoc,
    WorkspaceFile,
)
from reconciler.desired.sources import (
    MAX_TOTAL_BYTES,
    Reporter,
    Source,
    read_bytes,
    read_source,
    read_sources,
    validate_source,
)
from reconciler.desired.yaml_loader import load_bytes
from reconciler.errors import ConfigError, DesiredStateError
from reconciler.model import DesiredState, Organization
from reconciler.providers import (
    DEFAULT_PROVIDER,
    ProviderSpec,
    find_provider,
    unknown_provider_message,
)

T = TypeVar("T")

SUFFIXES = (".yaml", ".yml")
WORKSPACES_DIR = "workspaces"
TOP_FILES = ("organization", "roles")
OPTIONAL_FILES = ("people", "groups")


@dataclass(frozen=True)
class Validation:
    """The outcome of checking a directory: the state (if no error) and every problem."""

    directory: str
    state: DesiredState | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return self.state is not None


def display_path(path: Path) -> str:
    """The path as given when relative; relative to the working directory when inside it."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _not_a_file(path: Path) -> str | None:
    """Why ``path``, named as a desired-state file, is not read: it is there but not a
    plain file once its links are followed (a link to nothing, a folder, a pipe). None
    for a plain file, or for nothing there at all. Looked at, never opened: a pipe would
    wait for a writer."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return "a symbolic link to a file that does not exist: not read"
        return None
    except OSError:  # a loop of links, a name too long, no permission to look
        return "a symbolic link or a name that cannot be followed: not read"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a file: not read"
    return "not a plain file (a named pipe, a socket or a device): not read"


def _find(directory: Path, stem: str, reporter: Reporter | None = None) -> list[Path]:
    """``stem``'s files in ``directory`` (one per suffix found); an entry of that name that
    is not a plain file is ``reporter``'s error, never taken as absent."""
    found = []
    for suffix in SUFFIXES:
        path = directory / f"{stem}{suffix}"
        why = _not_a_file(path)
        if why is None and path.is_file():
            found.append(path)
        elif why is not None and reporter is not None:
            reporter.file(display_path(path), why)
    return found


def yaml_bytes(directory: Path) -> int:
    """The bytes of YAML a load of ``directory`` reads, as the sizes of its files say (0
    for what cannot be looked at): for a caller choosing how to read it, before reading."""
    total = 0
    for folder in (Path(directory), Path(directory) / WORKSPACES_DIR):
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if os.path.splitext(entry.name)[1] in SUFFIXES and _is_file(entry):
                        total += entry.stat().st_size
        except OSError:
            continue
    return total


def _there(directory: Path, stem: str) -> bool:
    """Whether anything is named ``stem`` with a YAML suffix in ``directory``."""
    return any(os.path.lexists(directory / f"{stem}{suffix}") for suffix in SUFFIXES)


def _single(directory: Path, stem: str, reporter: Reporter) -> Path | None:
    found = _find(directory, stem, reporter)
    if not found:
        if not _there(directory, stem):  # else what is there was reported
            reporter.file(display_path(directory / f"{stem}.yaml"), "missing file")
        return None
    if len(found) > 1:
        reporter.file(
            display_path(found[1]), f"both {found[0].name} and {found[1].name} exist: keep one"
        )
    return found[0]


def _optional(directory: Path, stem: str, reporter: Reporter) -> Path | None:
    found = _find(directory, stem, reporter)
    if len(found) > 1:
        reporter.file(
            display_path(found[1]), f"both {found[0].name} and {found[1].name} exist: keep one"
        )
    return found[0] if found else None


def _workspace_files(directory: Path, reporter: Reporter) -> list[Path]:
    folder = directory / WORKSPACES_DIR
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:  # its entries know their type: no stat per file
        found = list(entries)
    named = [e for e in found if os.path.splitext(e.name)[1] in SUFFIXES]
    names = sorted(e.name for e in named if _is_file(e))
    for entry in sorted(named, key=lambda e: e.name):
        why = None if _is_file(entry) else _not_a_file(folder / entry.name)
        if why is not None:  # a workspace file that cannot be read, not a workspace less
            reporter.file(display_path(folder / entry.name), why)
    for entry in sorted(found, key=lambda e: e.name):
        if os.path.splitext(entry.name)[1] not in SUFFIXES and _holds_yaml(entry):
            reporter.file(
                display_path(folder / entry.name),
                f"not read: each workspace is one file directly in {WORKSPACES_DIR}/, "
                "never in a folder below it",
                Severity.WARNING,
            )
    files = [folder / name for name in names]
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            reporter.file(
                display_path(path), f"both {seen[path.stem].name} and {path.name} exist: keep one"
            )
        seen.setdefault(path.stem, path)
    return files


def _is_file(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a plain file once its links are followed (False for a loop of
    links, or one that cannot be looked at: :func:`_not_a_file` says why)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a folder once its links are followed (False as for
    :func:`_is_file`)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _holds_yaml(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a folder (not a hidden one) with YAML files directly in it."""
    if entry.name.startswith(".") or not _is_dir(entry):
        return False
    try:
        with os.scandir(entry.path) as inside:
            return any(os.path.splitext(e.name)[1] in SUFFIXES for e in inside)
    except OSError:  # a folder that cannot be listed: nothing to say of what it holds
        return False


def _stray_files(directory: Path, reporter: Reporter) -> None:
    """Warn of the YAML files and folders of YAML files loading does not read: a file
    or folder misnamed is otherwise silently left out."""
    known = {f"{stem}{s}" for stem in (*TOP_FILES, *OPTIONAL_FILES) for s in SUFFIXES}
    with os.scandir(directory) as entries:
        found = sorted(entries, key=lambda e: e.name)
    for entry in found:
        stray_file = os.path.splitext(entry.name)[1] in SUFFIXES and _is_file(entry)
        if (stray_file and entry.name not in known) or (
            entry.name != WORKSPACES_DIR and _holds_yaml(entry)
        ):
            reporter.file(
                display_path(directory / entry.name),
                "not read: the desired state is organization.yaml, roles.yaml, "
                f"{WORKSPACES_DIR}/*.yaml, people.yaml and groups.yaml",
                Severity.WARNING,
            )


def named_provider(data: Any) -> str:
    """The provider an ``organization.yaml``'s data names; the default when it names none."""
    org = data.get("organization") if isinstance(data, dict) else None
    name = org.get("provider") if isinstance(org, dict) else None
    return DEFAULT_PROVIDER if name is None or name == "" else str(name)


def _organization_data(directory: Path) -> Any:
    """``directory``'s ``organization.yaml`` as data, unvalidated (None when unreadable)."""
    found = _find(Path(directory), "organization")
    # read as validation reads it: inside the tree, size- and depth-checked
    data = read_bytes(found[0], root=Path(directory)) if found else ""
    return load_bytes(data).data if isinstance(data, bytes) else None


def provider_name(directory: Path) -> str:
    """The provider ``directory``'s ``organization.yaml`` names, without validating it.

    For choosing what to connect to before the desired state is loaded; a file that cannot
    be read names the default (loading it reports why).
    """
    return named_provider(_organization_data(directory))


def organization_field(directory: Path, field: str) -> str | None:
    """The text ``organization.<field>`` of ``directory``'s ``organization.yaml`` holds,
    unvalidated (None when it holds none, or no text, or the file cannot be read)."""
    data = _organization_data(directory)
    org = data.get("organization") if isinstance(data, dict) else None
    value = org.get(field) if isinstance(org, dict) else None
    return value if isinstance(value, str) else None


def check_desired_state(
    directory: Path,
    *,
    today: dt.date | None = None,
    catalog: Catalog | None = None,
    pure_python_yaml: bool = False,
    worker_min_chars: int | None = None,
) -> Validation:
    """Check every file under ``directory``; never raises for bad input.
    ``worker_min_chars``: the text from which a worker process parses it (see
    :func:`~reconciler.desired.yaml_worker.parsed`)."""
    return finish(
        checking_steps(
            directory,
            today=today,
            catalog=catalog,
            pure_python_yaml=pure_python_yaml,
            worker_min_chars=worker_min_chars,
        )
    )


def finish(steps: Generator[None, None, T]) -> T:
    """What ``steps`` returns, its steps taken one after the other."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            value: T = done.value
            return value


def checking_steps(
    directory: Path,
    *,
    today: dt.date | None = None,
    catalog: Catalog | None = None,
    pure_python_yaml: bool = False,
    worker_min_chars: int | None = None,
    warnings: bool = True,
) -> Generator[None, None, Validation]:
    """:func:`check_desired_state` in steps: it yields after each workspace file is read
    and checked, so a caller with other work in the same thread (a plan's requests in
    flight) can do it in between, and returns the :class:`Validation`. Closing it
    early stops the parse (and any worker process it started). ``warnings=False``: only
    the errors are looked for (a load that shows no warning)."""
    directory = Path(directory)
    shown = display_path(directory)
    reporter = Reporter(warnings=warnings)
    if not directory.is_dir():
        what = "not a directory" if directory.exists() else "directory not found"
        reporter.file(shown, what)
        return Validation(shown, None, tuple(reporter.problems.sorted()))
    if is_multi_org(directory):
        reporter.file(shown, several_message(directory))
        return Validation(shown, None, tuple(reporter.problems.sorted()))

    read = 0  # bytes, against the total allowance
    folders: dict[str, bool] = {}  # whether each folder read is inside the directory

    def sources(files: list[tuple[Path, str]], kind: str) -> Iterator[Source]:
        """Each file read, parsed and checked alone, in order (the total allowance
        shared)."""
        nonlocal read
        for src in read_sources(
            files,
            kind,
            reporter,
            root=directory,
            room=MAX_TOTAL_BYTES - read,
            pure=pure_python_yaml,
            folders=folders,
            worker_min_chars=worker_min_chars,
        ):
            read += src.size
            validate_source(src, reporter)
            yield src

    def source(path: Path, kind: str) -> Source:
        (src,) = sources([(path, display_path(path))], kind)
        return src

    org_path = _single(directory, "organization", reporter)
    roles_path = _single(directory, "roles", reporter)
    _stray_files(directory, reporter)
    org = source(org_path, "organization") if org_path else None
    roles = source(roles_path, "roles") if roles_path else None
    folder = Path(display_path(directory / WORKSPACES_DIR))  # shown once, not per file
    workspace_files = [
        (p, (folder / p.name).as_posix()) for p in _workspace_files(directory, reporter)
    ]
    workspaces = []
    for src in sources(workspace_files, "workspace"):
        workspaces.append(_lighter(src))
        yield
    people_path = _optional(directory, "people", reporter)
    groups_path = _optional(directory, "groups", reporter)
    people = source(people_path, "people") if people_path else None
    groups = source(groups_path, "groups") if groups_path else None

    org_doc = org.model if org and isinstance(org.model, OrganizationFile) else None
    roles_doc = roles.model if roles and isinstance(roles.model, RolesFile) else None
    provider = _provider_of(org, reporter)
    checker = Checker(
        reporter=reporter,
        provider=provider,
        catalog=catalog or (load_catalog(provider=provider.name) if provider else None),
        today=today or dt.datetime.now(dt.UTC).date(),  # the UTC day, as plans count it
        organization=org_doc,
        organization_source=org,
        roles=roles_doc,
    )
    check_all(checker, roles, workspaces)
    check_people(checker, people, groups, workspaces)

    problems = tuple(dict.fromkeys(reporter.problems.sorted()))
    failed = any(p.is_error for p in problems)
    if failed or org_doc is None or roles_doc is None or provider is None:
        return Validation(shown, None, problems)
    state = convert.desired_state(org_doc, roles_doc, _taken(workspaces), provider)
    people_doc = people.model if people and isinstance(people.model, PeopleFile) else None
    groups_doc = groups.model if groups and isinstance(groups.model, GroupsFile) else None
    if people_doc is not None or groups_doc is not None:
        state = convert.with_people(state, people_doc, groups_doc, provider)
    return Validation(shown, state, problems)


def _provider_of(org: Source | None, reporter: Reporter) -> ProviderSpec | None:
    """The provider ``organization.yaml`` names; naming an unknown one is a problem there."""
    name = named_provider(org.doc.data) if org else DEFAULT_PROVIDER
    provider = find_provider(name)
    if provider is None and org is not None and isinstance(org.model, OrganizationFile):
        reporter.add(org, ("organization", "provider"), unknown_provider_message(name))
    return provider


def load_organization(directory: Path) -> Organization:
    """The organisation ``directory``'s ``organization.yaml`` describes (its vault, above
    all), validated alone: for a command that needs nothing more and must work whatever
    the rest says, as ``force-unlock``. :class:`DesiredStateError` lists its problems."""
    directory = Path(directory)
    if is_multi_org(directory):
        raise ConfigError(several_message(directory))
    reporter = Reporter()
    path = _single(directory, "organization", reporter)
    org = None
    if path is not None:
        org = read_source(path, display_path(path), "organization", reporter, root=directory)
        validate_source(org, reporter)
    provider = _provider_of(org, reporter)
    problems = reporter.problems.sorted()
    if (
        org is None
        or not isinstance(org.model, OrganizationFile)
        or provider is None
        or any(p.is_error for p in problems)
    ):
        raise DesiredStateError(list(problems))
    return convert.organization(org.model, provider)


def _lighter(source: Source) -> Source:
    """A workspace file once its document validated whole: its parsed YAML is dropped (the
    document holds the values; the marks, or the text to find them, stay for messages), so
    thousands of files do not keep two copies of every value until the end of the load."""
    if source.model is not None and not source.tainted:
        source.doc.data = None
    return source


def _taken(sources: list[Source]) -> Iterator[WorkspaceDoc]:
    """The workspace documents, in order, each source removed from ``sources`` as its
    document is taken: converted one by one, thousands of documents (and the texts kept
    to find marks) are not all held until the last is converted."""
    sources.reverse()
    while sources:
        model = sources.pop().model
        if isinstance(model, WorkspaceFile):
            yield model.workspace


def load_desired_state(
    directory: Path,
    *,
    today: dt.date | None = None,
    catalog: Catalog | None = None,
    worker_min_chars: int | None = None,
) -> DesiredState:
    """The validated desired state; :class:`DesiredStateError` lists every problem if not.

    Warnings do not stop the load; use :func:`check_desired_state` to see them.
    """
    return finish(
        loading_steps(directory, today=today, catalog=catalog, worker_min_chars=worker_min_chars)
    )


def loading_steps(
    directory: Path,
    *,
    today: dt.date | None = None,
    catalog: Catalog | None = None,
    worker_min_chars: int | None = None,
) -> Generator[None, None, DesiredState]:
    """:func:`load_desired_state` in steps, as :func:`checking_steps` takes them."""
    result = yield from checking_steps(
        directory, today=today, catalog=catalog, worker_min_chars=worker_min_chars, warnings=False
    )
    if result.state is None:  # shown as validate shows it: its warnings looked for now
        full = check_desired_state(
            directory, today=today, catalog=catalog, worker_min_chars=worker_min_chars
        )
        problems = full.problems if full.state is None else result.problems
        raise DesiredStateError(list(problems))
    return result.state
