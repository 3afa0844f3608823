"""`python -m kapviz users add/remove/list/set-role/set-password/unlock`: local accounts.

Passwords come from a hidden prompt (typed twice) or, for scripts, from the first line of
standard input with `--password-stdin`; never from an argument, which would end up in the
shell history and the process list. Every change is in the audit trail (`change_account`,
by `cli:<login name>`), written in the transaction of the change itself.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from kapviz.auth import accounts, audit, display
from kapviz.auth.scope import DISPLAY, ROLES, SUPERVISOR
from kapviz.auth.sites import check_sites_exist
from kapviz.config import database_url
from kapviz.db.engine import make_engine
from kapviz.db.migrate import upgrade

EXIT_PROBLEMS = 2


def _engine(args: argparse.Namespace):
    engine = make_engine(database_url(args.db))
    upgrade(engine)
    return engine


def read_password(args: argparse.Namespace) -> str:
    """The new password: first line of stdin with --password-stdin, else a prompt typed twice."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Password again: ")
    if first != second:
        raise ValueError("the two passwords differ")
    return first


def _audit(conn: Connection, account: str, change: str, **detail: object) -> None:
    """The audit row of one account change (never a password or token, only that it changed)."""
    audit.record(
        conn,
        username=audit.command_line_user(),
        action=audit.CHANGE_ACCOUNT,
        target=account,
        detail={"change": change, **{k: v for k, v in detail.items() if v}},
    )


def _fail(message: object) -> int:
    print(f"kapviz users: {message}", file=sys.stderr)
    return EXIT_PROBLEMS


def _cmd_add(args: argparse.Namespace) -> int:
    if args.role == DISPLAY:
        return _cmd_add_display(args)
    try:
        password = None if args.no_password else read_password(args)
        with _engine(args).begin() as conn:
            if args.role == SUPERVISOR:
                check_sites_exist(conn, args.site or (), allow_new=args.allow_new_site)
            name = accounts.add_user(
                conn,
                args.username,
                password,
                role=args.role,
                display_name=args.name,
                sites=tuple(args.site or ()),
                clinician=args.clinician,
            )
            _audit(conn, name, "add", role=args.role, sites=args.site, clinician=args.clinician)
    except (ValueError, SQLAlchemyError) as exc:
        return _fail(exc)
    print(f"added {name} ({args.role})")
    return 0


def _print_token(name: str, token: str) -> None:
    print(
        f"display token of {name} (shown only now; keep it like a password):\n  {token}\n"
        f"open the wall screen at  /?{display.QUERY_PARAMETER}={token}&kiosk=1\n"
        f"revoke it with `users remove {name}`, replace it with `users display-token {name}`"
    )


def _cmd_add_display(args: argparse.Namespace) -> int:
    if args.site or args.clinician or args.password_stdin or args.no_password:
        return _fail("a display account takes no sites, clinician code or password")
    try:
        with _engine(args).begin() as conn:
            name, token = display.add_display(conn, args.username, display_name=args.name)
            _audit(conn, name, "add", role=DISPLAY)
    except (ValueError, SQLAlchemyError) as exc:
        return _fail(exc)
    print(f"added {name} (display)")
    _print_token(name, token)
    return 0


def _cmd_display_token(args: argparse.Namespace) -> int:
    try:
        with _engine(args).begin() as conn:
            token = display.issue_token(conn, args.username)
            _audit(conn, accounts.normalize_username(args.username), "display-token")
    except (ValueError, LookupError) as exc:
        return _fail(exc.args[0] if exc.args else exc)
    name = args.username.strip().lower()
    print(f"new display token of {name}; the old one no longer signs in")
    _print_token(name, token)
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    try:
        with _engine(args).begin() as conn:
            removed = accounts.remove_user(conn, args.username)
            if removed:
                _audit(conn, accounts.normalize_username(args.username), "remove")
    except ValueError as exc:
        return _fail(exc)
    if not removed:
        return _fail(f"no user {args.username!r}")
    print(f"removed {args.username.strip().lower()}")
    return 0


def _cmd_set_role(args: argparse.Namespace) -> int:
    try:
        with _engine(args).begin() as conn:
            if args.role == SUPERVISOR:
                check_sites_exist(conn, args.site or (), allow_new=args.allow_new_site)
            accounts.set_role(
                conn,
                args.username,
                args.role,
                sites=tuple(args.site or ()),
                clinician=args.clinician,
            )
            _audit(
                conn,
                accounts.normalize_username(args.username),
                "set-role",
                role=args.role,
                sites=args.site,
                clinician=args.clinician,
            )
    except (ValueError, LookupError) as exc:
        return _fail(exc.args[0] if exc.args else exc)
    print(f"{args.username.strip().lower()} is now {args.role}")
    return 0


def _cmd_set_password(args: argparse.Namespace) -> int:
    try:
        password = read_password(args)
        with _engine(args).begin() as conn:
            accounts.set_password(conn, args.username, password)
            _audit(conn, accounts.normalize_username(args.username), "set-password")
    except (ValueError, LookupError) as exc:
        return _fail(exc.args[0] if exc.args else exc)
    print(f"password of {args.username.strip().lower()} changed")
    return 0


def _cmd_unlock(args: argparse.Namespace) -> int:
    try:
        with _engine(args).begin() as conn:
            accounts.unlock(conn, args.username)
            _audit(conn, accounts.normalize_username(args.username), "unlock")
    except (ValueError, LookupError) as exc:
        return _fail(exc.args[0] if exc.args else exc)
    print(f"unlocked {args.username.strip().lower()}")
    return 0


def _status(account: accounts.Account, now: datetime) -> str:
    if account.locked_until is not None and account.locked_until > now:
        return f"locked until {account.locked_until:%Y-%m-%d %H:%M}"
    return "active"


def _cmd_list(args: argparse.Namespace) -> int:
    with _engine(args).connect() as conn:
        users = accounts.list_users(conn)
    now = datetime.now()
    if args.json:
        rows = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "sites": list(u.sites),
                "clinician": u.clinician,
                "status": _status(u, now),
            }
            for u in users
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not users:
        print("no users")
        return 0
    header = ("username", "role", "scope", "name", "status")
    lines = [header] + [
        (
            u.username,
            u.role,
            ", ".join(u.sites) or (u.clinician or "all sites"),
            u.display_name or "",
            _status(u, now),
        )
        for u in users
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 0


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: the configured one)",
    )


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site",
        action="append",
        metavar="SITE",
        help="a site a supervisor may see (repeat for several; supervisors only)",
    )
    parser.add_argument(
        "--allow-new-site",
        action="store_true",
        help="accept a --site not yet in the database (its data are to be imported)",
    )
    parser.add_argument(
        "--clinician", metavar="CODE", help="the clinician code of a clinician (clinicians only)"
    )


def _password_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of a prompt",
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `users` and its subcommands on the main parser."""
    users = sub.add_parser(
        "users",
        help="manage local accounts (sign-in without an identity provider)",
        description="Local accounts: roles director, supervisor (assigned sites), clinician "
        "(own patients, by clinician code), analyst (aggregate pages only) and display (a "
        "wall screen: what an analyst sees, signed in by a token printed once).",
    )
    cmds = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    add = cmds.add_parser("add", help="create an account", description="Create an account.")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", metavar="TEXT", help="display name")
    _scope_arguments(add)
    _password_argument(add)
    add.add_argument(
        "--no-password",
        action="store_true",
        help="no password: the account signs in through the identity provider only "
        "(KAPVIZ_AUTH_MODE=oidc; the username is the identity's e-mail address)",
    )
    _db_argument(add)
    add.set_defaults(func=_cmd_add)

    remove = cmds.add_parser("remove", help="delete an account (its audit rows stay)")
    remove.add_argument("username")
    _db_argument(remove)
    remove.set_defaults(func=_cmd_remove)

    listing = cmds.add_parser("list", help="list accounts (no passwords or hashes)")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    _db_argument(listing)
    listing.set_defaults(func=_cmd_list)

    role = cmds.add_parser(
        "set-role", help="change an account's role and scope (replaces sites and code)"
    )
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    _scope_arguments(role)
    _db_argument(role)
    role.set_defaults(func=_cmd_set_role)

    password = cmds.add_parser("set-password", help="set a new password (also unlocks)")
    password.add_argument("username")
    _password_argument(password)
    _db_argument(password)
    password.set_defaults(func=_cmd_set_password)

    token = cmds.add_parser(
        "display-token", help="give a display account a new token (the old one stops working)"
    )
    token.add_argument("username")
    _db_argument(token)
    token.set_defaults(func=_cmd_display_token)

    unlock = cmds.add_parser("unlock", help="lift a lock-out after failed sign-ins")
    unlock.add_argument("username")
    _db_argument(unlock)
    unlock.set_defaults(func=_cmd_unlock)
