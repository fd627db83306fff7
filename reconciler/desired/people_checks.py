"""Rules for ``people.yaml`` and ``groups.yaml``, and for the emails the other files name.

Run by :func:`reconciler.desired.checks.check_all`'s caller once the files passed their
schema. Emails are compared without regard to case everywhere. Once ``people.yaml``
exists, every email the desired state names (a workspace's admin and members, a key's
owner, a group's members, the offboarding's ``transfer_to``, ``run_as``) must be a person
it lists. Roles and seats come from the provider's vocabulary. A person who reaches a
workspace both directly and through a group is an error (the two grants would fight).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from reconciler.desired.checks import Checker
from reconciler.desired.messages import describe_value
from reconciler.desired.problems import Loc
from reconciler.desired.schema import GroupsFile, PeopleFile, WorkspaceFile
from reconciler.desired.sources import Source


def _one_of(
    checker: Checker, source: Source, loc: Loc, value: str, known: Sequence[str], what: str
) -> None:
    provider = checker.provider
    if provider is None or value in known:
        return
    names = ", ".join(known) if known else "none"
    checker.reporter.add(
        source,
        loc,
        f"{describe_value(value)} is not {what} of {provider.display_name} (known: {names})",
    )


def _workspace_emails(source: Source) -> Iterator[tuple[Loc, str]]:
    ws = source.model.workspace
    yield ("workspace", "admin"), ws.admin
    for i, member in enumerate(ws.members):
        yield ("workspace", "members", i, "email"), member.email
    for i, key in enumerate(ws.api_keys):
        yield ("workspace", "api_keys", i, "owner"), key.owner


def group_reach(doc: GroupsFile) -> dict[str, set[str]]:
    """Group name -> the lower-case emails it reaches (its members and its nested groups')."""
    by_name = {g.name: g for g in doc.groups}

    def reach(name: str, seen: frozenset[str]) -> set[str]:
        group = by_name[name]
        emails = {e.lower() for e in group.members}
        for child in group.nested:
            if child in by_name and child not in seen:
                emails |= reach(child, seen | {child})
        return emails

    return {g.name: reach(g.name, frozenset({g.name})) for g in doc.groups}


def check_people(
    checker: Checker,
    people: Source | None,
    groups: Source | None,
    workspaces: Sequence[Source],
) -> None:
    """Every rule of the module docstring."""
    reporter = checker.reporter
    provider = checker.provider
    listed: dict[str, Loc] = {}
    people_doc = people.model if people and isinstance(people.model, PeopleFile) else None
    groups_doc = groups.model if groups and isinstance(groups.model, GroupsFile) else None
    valid = [s for s in workspaces if isinstance(s.model, WorkspaceFile)]
    if people is not None and people_doc is not None:
        for i, person in enumerate(people_doc.people):
            loc: Loc = ("people", i)
            if person.email.lower() in listed:
                first = people.doc.mark(listed[person.email.lower()])[0]
                reporter.add(
                    people,
                    (*loc, "email"),
                    f"'{person.email}' is listed twice (first at line {first})",
                )
            listed.setdefault(person.email.lower(), (*loc, "email"))
            if person.role is not None and provider is not None:
                _one_of(
                    checker,
                    people,
                    (*loc, "role"),
                    person.role,
                    provider.organization_roles,
                    "an organisation role",
                )
            for j, seat in enumerate(person.seats):
                if provider is not None:
                    _one_of(
                        checker, people, (*loc, "seats", j), seat, provider.seats, "a product seat"
                    )

        def known(source: Source, at: Loc, email: str) -> None:
            if email.lower() not in listed:
                reporter.add(
                    source, at, f"'{email}' is not a person in {people.display if people else ''}"
                )

        for source in valid:
            for at, email in _workspace_emails(source):
                known(source, at, email)
        keys = people_doc.offboarding.keys
        if not isinstance(keys, str):
            known(people, ("offboarding", "keys", "transfer_to"), keys.transfer_to)
        if people_doc.run_as is not None:
            known(people, ("run_as",), people_doc.run_as)
        if groups is not None and groups_doc is not None:
            for i, group in enumerate(groups_doc.groups):
                for j, email in enumerate(group.members):
                    known(groups, ("groups", i, "members", j), email)
    if groups is not None and groups_doc is not None:
        _check_groups(checker, groups, groups_doc, valid)


def _check_groups(
    checker: Checker, source: Source, doc: GroupsFile, workspaces: Sequence[Source]
) -> None:
    reporter = checker.reporter
    provider = checker.provider
    names = [g.name for g in doc.groups]
    ws_files = {s.model.workspace.name: s for s in workspaces}
    renamed = {
        old: s.model.workspace.name for s in workspaces for old in s.model.workspace.previous_names
    }
    reach = group_reach(doc)
    for i, group in enumerate(doc.groups):
        loc: Loc = ("groups", i)
        if group.name in names[:i]:
            reporter.add(source, (*loc, "name"), f"group '{group.name}' is declared twice")
        for j, child in enumerate(group.nested):
            if child not in names:
                reporter.add(source, (*loc, "nested", j), f"no group '{child}' in groups.yaml")
            elif child == group.name or group.name in _descendants(doc, child):
                reporter.add(source, (*loc, "nested", j), "a group cannot be nested inside itself")
        if group.organization_role is not None and provider is not None:
            _one_of(
                checker,
                source,
                (*loc, "organization_role"),
                group.organization_role,
                provider.organization_roles,
                "an organisation role",
            )
        for ws, roles in group.workspaces.items():
            at: Loc = (*loc, "workspaces", ws)
            if ws not in ws_files:
                now = renamed.get(ws)
                hint = (
                    f" (workspace '{now}' was called '{ws}': name it by its new name)"
                    if now
                    else ""
                )
                reporter.add(source, at, f"no workspace '{ws}' in the desired state{hint}")
                continue
            checker.member_roles(source, at, roles)
            direct = dict(_direct(ws_files[ws]))
            for email in sorted(reach[group.name] & set(direct)):
                reporter.add(
                    ws_files[ws],
                    direct[email],
                    f"'{email}' is a member of '{ws}' directly and through group "
                    f"'{group.name}' ({source.where(at)}): keep one",
                )


def _direct(source: Source) -> Iterator[tuple[str, Loc]]:
    ws = source.model.workspace
    yield ws.admin.lower(), ("workspace", "admin")
    for i, member in enumerate(ws.members):
        yield member.email.lower(), ("workspace", "members", i, "email")


def _descendants(doc: GroupsFile, name: str) -> set[str]:
    by_name = {g.name: g for g in doc.groups}
    seen: set[str] = set()
    todo = [name]
    while todo:
        group = by_name.get(todo.pop())
        for child in group.nested if group else ():
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen
