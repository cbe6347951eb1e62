"""Known vulnerabilities in both lock files, against a reasoned allow-list (`make audit`).

pip-audit reads requirements/app.lock (our environment) and requirements/rasa.lock (Rasa
3.6's) without installing anything (every package is pinned with ``==``), and asks PyPI's
JSON API which advisories name each pinned version. The audit fails when

- a finding is not in requirements/audit-allowlist.toml: upgrade the pin, or add an entry
  saying why it stays;
- an entry matches no finding of its lock file any more (the pin moved, or the advisory
  was withdrawn): it is stale, and is deleted so that the list stays true;
- a package could not be audited, or pip-audit could not reach the vulnerability service:
  an audit that saw nothing must not pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

LOCKS = ("requirements/app.lock", "requirements/rasa.lock")
ALLOWLIST = "requirements/audit-allowlist.toml"
# pip-audit asks PyPI once per package; a stalled service must not hold `make test` forever.
TIMEOUT_S = 600
_ENTRY_FIELDS = ("id", "package", "lock", "reason")


class AuditError(Exception):
    """The audit could not be done: an unreadable allow-list, or no report from pip-audit."""


@dataclass(frozen=True)
class Accepted:
    """An allow-list entry: one advisory for one package of one lock file, and why."""

    id: str
    package: str
    lock: str
    reason: str


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    def names(self, candidate: str) -> bool:
        return candidate == self.id or candidate in self.aliases

    def describe(self) -> str:
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fixed = ", ".join(self.fix_versions) or "no fixed version"
        return f"{self.package} {self.version}: {self.id}{aliases}; fixed in: {fixed}"


@dataclass
class Verdict:
    lock: str
    audited: int = 0
    accepted: list[Finding] = field(default_factory=list)
    unexpected: list[Finding] = field(default_factory=list)
    stale: list[Accepted] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)  # "package: why"

    @property
    def passed(self) -> bool:
        return not (self.unexpected or self.stale or self.unaudited)


def load_allowlist(path: Path) -> list[Accepted]:
    """The ``[[accepted]]`` entries, each with every field filled in, none twice."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AuditError(f"{path}: {exc}") from exc
    entries: list[Accepted] = []
    for number, raw in enumerate(data.get("accepted", []), 1):
        values = {name: raw.get(name) for name in _ENTRY_FIELDS}
        empty = [name for name, value in values.items() if not str(value or "").strip()]
        if empty or set(raw) - set(_ENTRY_FIELDS):
            raise AuditError(
                f"{path}: entry {number} needs exactly {', '.join(_ENTRY_FIELDS)}, each "
                f"filled in (missing or empty: {', '.join(empty) or 'none'}; "
                f"unknown: {', '.join(sorted(set(raw) - set(_ENTRY_FIELDS))) or 'none'})"
            )
        entry = Accepted(**{name: str(value).strip() for name, value in values.items()})
        if any(_same_finding(entry, other) for other in entries):
            raise AuditError(f"{path}: {entry.id} for {entry.package} is listed twice")
        entries.append(entry)
    return entries


def _same_finding(a: Accepted, b: Accepted) -> bool:
    return (a.id, canonicalize_name(a.package), a.lock) == (
        b.id,
        canonicalize_name(b.package),
        b.lock,
    )


def pip_audit_command(lock: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(lock),
        # The lock pins everything: audit it as written, with neither pip nor a resolver.
        "--no-deps",
        "--disable-pip",
        "--vulnerability-service",
        "pypi",
        "--format",
        "json",
        "--aliases",
        "on",
        "--desc",
        "off",
        "--progress-spinner",
        "off",
    ]


def run_pip_audit(lock: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """pip-audit's JSON report on ``lock``; AuditError when it gives none."""
    try:
        done = subprocess.run(
            pip_audit_command(lock),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AuditError(f"{lock}: pip-audit did not finish in {TIMEOUT_S} s") from exc
    # Exit 1 with a report means findings; without one, pip-audit itself failed.
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        cause = lines[-1] if lines else "no message"
        raise AuditError(
            f"{lock}: pip-audit gave no report (exit {done.returncode}); is PyPI reachable? {cause}"
        ) from None
    return report


def judge(lock: str, report: Mapping[str, Any], allowlist: Sequence[Accepted]) -> Verdict:
    """Each finding of ``report`` accepted by an entry for ``lock``, or not; and the entries
    for ``lock`` that accepted nothing."""
    verdict = Verdict(lock)
    entries = [entry for entry in allowlist if entry.lock == lock]
    used: set[Accepted] = set()
    unaudited: set[str] = set()
    for dependency in report.get("dependencies", []):
        package = canonicalize_name(dependency["name"])
        if "skip_reason" in dependency:
            unaudited.add(package)
            verdict.unaudited.append(f"{package}: {dependency['skip_reason']}")
            continue
        verdict.audited += 1
        for vuln in dependency.get("vulns", []):
            finding = Finding(
                package=package,
                version=str(dependency.get("version", "")),
                id=vuln["id"],
                aliases=tuple(vuln.get("aliases", [])),
                fix_versions=tuple(vuln.get("fix_versions", [])),
            )
            matches = {
                e
                for e in entries
                if canonicalize_name(e.package) == package and finding.names(e.id)
            }
            used |= matches
            (verdict.accepted if matches else verdict.unexpected).append(finding)
    # An entry for a package that could not be audited is neither confirmed nor stale.
    verdict.stale = [
        e for e in entries if e not in used and canonicalize_name(e.package) not in unaudited
    ]
    return verdict


def report_lines(verdict: Verdict, allowlist: Path) -> list[str]:
    lock = verdict.lock
    lines = [
        f"{lock}: {verdict.audited} packages audited, {len(verdict.accepted)} findings "
        f"accepted in {allowlist}, {len(verdict.unexpected)} not accepted"
    ]
    lines += [f"{lock}: NOT ACCEPTED {finding.describe()}" for finding in verdict.unexpected]
    if verdict.unexpected:
        lines.append(
            f"  upgrade the pin, or add an [[accepted]] entry to {allowlist} saying why it stays"
        )
    lines += [
        f"{lock}: STALE entry {e.id} for {e.package}: no finding matches it any more; delete it"
        for e in verdict.stale
    ]
    if verdict.unaudited and verdict.audited == 0:
        lines.append(
            f"{lock}: NOTHING AUDITED: no package could be looked up "
            f"({verdict.unaudited[0]}); PyPI's per-version JSON API "
            "(https://pypi.org/pypi/<name>/<version>/json) did not answer"
        )
    else:
        lines += [f"{lock}: NOT AUDITED {why}" for why in verdict.unaudited]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locks", nargs="*", default=list(LOCKS), help="lock files to audit")
    parser.add_argument("--allowlist", type=Path, default=Path(ALLOWLIST))
    args = parser.parse_args(argv)
    locks = [Path(lock).as_posix() for lock in args.locks]
    passed = True
    try:
        allowlist = load_allowlist(args.allowlist)
        unknown = sorted({e.lock for e in allowlist} - {*locks, *LOCKS})
        if unknown:
            raise AuditError(f"{args.allowlist}: no such lock file: {', '.join(unknown)}")
        for lock in locks:
            verdict = judge(lock, run_pip_audit(Path(lock)), allowlist)
            print("\n".join(report_lines(verdict, args.allowlist)), flush=True)
            passed = passed and verdict.passed
    except AuditError as exc:
        print(f"dependency audit failed / 依赖审计未完成: {exc}", file=sys.stderr)
        return 1
    if not passed:
        print("dependency audit failed / 依赖审计未通过", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
