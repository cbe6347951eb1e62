"""How we drive the Rasa engine, which lives in its own Python 3.10 environment.

Training is keyed by a content hash of everything that shapes the model (config, domain,
rules, stories, NLU data), so an unchanged project never trains twice.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from liangwang.db import with_postgres_driver
from liangwang.settings import PROJECT_ROOT, Settings

BOT_DIR = PROJECT_ROOT / "bot"
NLU_DIR = PROJECT_ROOT / "nlu_data"
CONFIG = PROJECT_ROOT / "config.yml"
DOMAIN = BOT_DIR / "domain.yml"
TRAINING_FILES = (BOT_DIR / "rules.yml", BOT_DIR / "stories.yml")


def training_inputs() -> list[Path]:
    files = [CONFIG, DOMAIN, *TRAINING_FILES]
    files += sorted(p for p in NLU_DIR.rglob("*") if p.is_file())
    return files


def training_hash() -> str:
    digest = hashlib.sha256()
    for path in training_inputs():
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(settings: Settings) -> Path:
    return settings.models_dir / f"liangwang-{training_hash()}.tar.gz"


def rasa_bin(settings: Settings) -> Path:
    return settings.rasa_venv / "bin" / "rasa"


def nlu_files() -> list[Path]:
    return sorted(NLU_DIR.rglob("*.yml"))


def data_args() -> list[str]:
    files = [*nlu_files(), *TRAINING_FILES]
    return ["--data", *map(str, files), "--domain", str(DOMAIN)]


def action_secret_env(settings: Settings) -> dict[str, str]:
    """The secret Rasa sends with every action call (bot/endpoints.yml) and the action
    server requires; empty where no action server runs (training, validation, stories),
    which the settings read as unset."""
    secret = settings.action_secret.get_secret_value() if settings.action_secret else ""
    return {"LIANGWANG_ACTION_SECRET": secret}


# Rasa's name for our lock store class (bot/ is on the path of bot/rasa_start.py).
SQLITE_LOCK_STORE = "sqlite_lock_store.SQLiteLockStore"


def lock_store_env(settings: Settings) -> dict[str, str]:
    """What bot/endpoints.yml's lock store reads: Redis when a URL is set; else Rasa's
    locks in memory for one process, or an SQLite file the replicas of this machine share."""
    # bot/endpoints.yml names them all; an empty one is no password and no TLS.
    names = ("ADDRESS", "PORT", "DB", "USERNAME", "PASSWORD", "TLS")
    env = {f"LIANGWANG_LOCK_STORE_{name}": "" for name in names}
    env["LIANGWANG_LOCK_STORE_TYPE"] = "in_memory"
    if settings.lock_store_url:
        lock = urlsplit(settings.lock_store_url)
        env.update(
            LIANGWANG_LOCK_STORE_TYPE="redis",
            LIANGWANG_LOCK_STORE_ADDRESS=lock.hostname or "localhost",
            LIANGWANG_LOCK_STORE_PORT=str(lock.port or 6379),
            LIANGWANG_LOCK_STORE_DB=lock.path.strip("/") or "0",
            LIANGWANG_LOCK_STORE_USERNAME=unquote(lock.username or ""),
            LIANGWANG_LOCK_STORE_PASSWORD=unquote(lock.password or ""),
            LIANGWANG_LOCK_STORE_TLS="true" if lock.scheme == "rediss" else "",
        )
    elif settings.rasa_processes > 1:
        env.update(
            LIANGWANG_LOCK_STORE_TYPE=SQLITE_LOCK_STORE,
            LIANGWANG_LOCK_STORE_ADDRESS=settings.lock_file_url,
        )
    return env


def rasa_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for Rasa processes: what bot/endpoints.yml reads, and quiet TensorFlow."""
    env = dict(os.environ if base is None else base)
    env.update(
        action_secret_env(settings) | lock_store_env(settings),
        LIANGWANG_ACTION_URL=settings.action_url,
        # Rasa's SQLAlchemy 1.4 reaches PostgreSQL through psycopg2 (in its environment).
        LIANGWANG_TRACKER_STORE_URL=with_postgres_driver(
            settings.effective_tracker_store_url, "psycopg2"
        ),
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        RASA_TELEMETRY_ENABLED="false",
        TQDM_DISABLE="1",
        # Rasa writes logs and caches relative to its working directory; keep them in data_dir.
        RASA_CACHE_DIRECTORY=str(settings.data_dir.resolve() / "rasa-cache"),
    )
    return env


def rasa_env_with_bot(settings: Settings) -> dict[str, str]:
    """Rasa's environment with bot/ on the module path, as bot/rasa_start.py finds its own
    modules: for scripts that run our engine changes in Rasa's Python."""
    return {**rasa_env(settings), "PYTHONPATH": str(BOT_DIR)}


def rasa_script(settings: Settings, script: str, *args: str) -> list[str]:
    """The command running ``script`` in Rasa's Python; run it with ``rasa_env_with_bot``
    from the project's folder, as ``run_rasa_script`` does."""
    return [str(settings.rasa_venv / "bin" / "python"), "-c", script, *args]


def run_rasa_script(
    settings: Settings, script: str, *args: str, stdin: str = "", timeout_s: float | None = None
) -> str:
    """What ``script`` printed, run to its end in Rasa's Python with bot/ on its path."""
    done = subprocess.run(
        rasa_script(settings, script, *args),
        input=stdin,
        env=rasa_env_with_bot(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return done.stdout


def train(
    settings: Settings,
    *,
    force: bool = False,
    log: Path | None = None,
    on_start: Callable[[], None] | None = None,
) -> tuple[Path, bool]:
    """Train unless a model for the current content hash exists. Returns (path, trained).

    Rasa's output goes to the terminal, or to ``log`` when given; ``on_start`` is called
    just before training actually starts (e.g. to say it will take minutes).
    """
    target = model_path(settings)
    if target.exists() and not force:
        return target, False
    if on_start is not None:
        on_start()
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(rasa_bin(settings)),
        "train",
        "--config",
        str(CONFIG),
        *data_args(),
        "--out",
        str(settings.models_dir),
        "--fixed-model-name",
        target.name.removesuffix(".tar.gz"),
    ]
    if log is None:
        subprocess.run(cmd, check=True, cwd=PROJECT_ROOT, env=rasa_env(settings))
    else:
        with log.open("w", encoding="utf-8") as out:
            subprocess.run(
                cmd,
                check=True,
                cwd=PROJECT_ROOT,
                env=rasa_env(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    return target, True


def validate(settings: Settings) -> int:
    """``rasa data validate``: domain, NLU data, rules and stories agree; warnings fail."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(rasa_bin(settings)),
        "data",
        "validate",
        "--config",
        str(CONFIG),
        *data_args(),
        "--fail-on-warnings",
    ]
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env(settings)).returncode


TEST_STORIES = PROJECT_ROOT / "tests" / "dialogue"


def test_stories(settings: Settings, model: Path) -> int:
    """``rasa test core`` on the test stories; any wrong prediction fails."""
    out = settings.data_dir / "rasa-test-results"
    cmd = [
        str(rasa_bin(settings)),
        "test",
        "core",
        "--model",
        str(model),
        "--stories",
        str(TEST_STORIES),
        "--out",
        str(out),
        "--fail-on-prediction-errors",
        "--no-plot",
    ]
    code = subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env(settings)).returncode
    failed = out / "failed_test_stories.yml"
    if code != 0 and failed.exists():
        print(failed.read_text(encoding="utf-8"))
    return code
