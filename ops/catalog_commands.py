"""``liangwang catalog …``: import, export, search, seed the sample catalog."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from liangwang.catalog.loader import CatalogError, format_of
from liangwang.catalog.models import CatalogService
from liangwang.catalog.search import CatalogIndex, close_candidates
from liangwang.catalog.store import (
    SAMPLE_CATALOG,
    dump,
    export_catalog,
    import_catalog,
    load_services,
    read_catalog_file,
)
from liangwang.db import migrate, sessions_for, unit_of_work
from liangwang.settings import PROJECT_ROOT, Settings, load_settings


def _sessions() -> sessionmaker[Session]:
    settings = load_settings()
    migrate(settings.effective_database_url)
    return sessions_for(settings.effective_database_url)


def import_file(path: Path) -> int:
    try:
        with unit_of_work(_sessions()) as session:
            report = import_catalog(session, read_catalog_file(session, path))
    except CatalogError as exc:
        print(
            f"导入失败，数据库没有改动 / import failed, nothing was written ({path.name}):",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  - {problem.render()}", file=sys.stderr)
        return 1
    print(
        f"已导入 / imported: {report.services} services, {report.offices} offices, "
        f"{report.changed} changed"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    return import_file(Path(args.file))


def seed_sample_catalog_if_empty(settings: Settings) -> None:
    """First start: load the sample catalog so the assistant has something to explain."""
    sessions = sessions_for(settings.effective_database_url)
    with unit_of_work(sessions) as session:
        empty = session.scalar(select(func.count()).select_from(CatalogService)) == 0
        if empty:
            report = import_catalog(session, read_catalog_file(session, SAMPLE_CATALOG))
            print(f"已导入示例目录 / sample catalog imported: {report.services} services")


def cmd_seed(_args: argparse.Namespace) -> int:
    return import_file(SAMPLE_CATALOG)


def cmd_export(args: argparse.Namespace) -> int:
    with unit_of_work(_sessions()) as session:
        text = dump(export_catalog(session), args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with unit_of_work(_sessions()) as session:
        index = CatalogIndex(load_services(session))
    candidates = index.search(args.query, limit=args.limit)
    print(
        json.dumps(
            {
                "query": args.query,
                "ambiguous": len(close_candidates(candidates)) > 1,
                "candidates": [c.__dict__ for c in candidates],
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


def cmd_nlu(args: argparse.Namespace) -> int:
    from liangwang.catalog import nlu
    from liangwang.catalog.loader import load
    from liangwang.complaints import nlu as complaints_nlu

    # From the catalog file, not the database: training data must not depend on what a
    # particular machine happens to have imported.
    path = Path(args.file)
    catalog = load(path.read_text(encoding="utf-8"), format_of(path))
    for written in nlu.write(nlu.generate(catalog.services)):
        print(f"已生成 / wrote {written.relative_to(PROJECT_ROOT)}")
    complaints_nlu.write(complaints_nlu.generate(complaints_nlu.load_examples()))
    print(f"已生成 / wrote {complaints_nlu.GENERATED_NLU.relative_to(PROJECT_ROOT)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    catalog = sub.add_parser("catalog", help="办事指南目录 / the service catalog")
    csub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="命令/command")

    imp = csub.add_parser("import", help="导入 YAML 或 JSON 文件（先整体校验）/ import a file")
    imp.add_argument("file", metavar="FILE")
    imp.set_defaults(func=cmd_import)

    seed = csub.add_parser("seed", help="导入示例目录 / import the sample catalog")
    seed.set_defaults(func=cmd_seed)

    exp = csub.add_parser("export", help="导出目录 / export the catalog")
    exp.add_argument("--format", choices=("yaml", "json"), default="yaml")
    exp.add_argument("-o", "--output", metavar="FILE", help="写入文件 / write to a file")
    exp.set_defaults(func=cmd_export)

    gen = csub.add_parser("nlu", help="由目录生成训练数据和分词词典 / generate NLU data")
    gen.add_argument("--file", default=str(SAMPLE_CATALOG), metavar="FILE")
    gen.set_defaults(func=cmd_nlu)

    search = csub.add_parser("search", help="按说法查找事项 / find services from a phrase")
    search.add_argument("query", metavar="文字/TEXT")
    search.add_argument("--limit", type=int, default=5)
    search.set_defaults(func=cmd_search)
