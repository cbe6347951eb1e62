"""Reviewers' corrections, exported, do what they are for: the export passes Rasa's own
``rasa data validate`` (with warnings failing) beside all our training data, and an NLU
model trained with it predicts the corrected intent for the corrected sentence where the
same model trained without it did not."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from liangwang.review import corrections, listing
from liangwang.settings import PROJECT_ROOT, Settings
from ops.rasa_engine import CONFIG, DOMAIN, TRAINING_FILES, nlu_files, rasa_bin, rasa_env
from tests.rasa_python import run_in_rasa
from tests.unit.test_review import T0, _store, said

pytestmark = pytest.mark.e2e

# A small, fast pipeline: enough to show what one example teaches.
SMALL = """recipe: default.v1
language: zh
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 3
  - name: LogisticRegressionClassifier
policies: []
"""
BASE = {
    "greet": ["你好", "您好", "早上好", "你好呀", "下午好", "嗨你好"],
    "thank": ["谢谢", "多谢", "谢谢你", "太感谢了", "非常感谢", "谢谢啦"],
}
SENTENCE = "好嘞好嘞收到啦"
PREDICT = """
import asyncio, sys
from rasa.core.agent import Agent

async def main():
    agent = Agent.load(sys.argv[1])
    print((await agent.parse_message(sys.argv[2]))["intent"]["name"])

asyncio.run(main())
"""


def _nlu(examples: dict[str, list[str]]) -> str:
    blocks = [f"- intent: {i}\n  examples: |\n" + "".join(f"    - {e}\n" for e in ex)
              for i, ex in examples.items()]  # fmt: skip
    return 'version: "3.1"\nnlu:\n' + "".join(blocks)


def _trained(settings: Settings, folder: Path, files: list[Path]) -> str:
    """A model trained on ``files`` with the small pipeline; its prediction for SENTENCE."""
    data = folder / "data"
    data.mkdir(parents=True)
    for file in files:  # `rasa train nlu --nlu` takes one file or one folder
        (data / file.name).write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "config.yml").write_text(SMALL, encoding="utf-8")
    subprocess.run(
        [str(rasa_bin(settings)), "train", "nlu", "--config", str(folder / "config.yml"),
         "--nlu", str(data), "--out", str(folder), "--fixed-model-name", "m"],
        cwd=folder, env=rasa_env(settings), check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    script = f"import sys; sys.argv = ['', {str(folder / 'm.tar.gz')!r}, {SENTENCE!r}]\n"
    return run_in_rasa(settings, script + PREDICT).strip().splitlines()[-1]


def test_an_exported_correction_validates_and_changes_what_is_predicted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    base = tmp_path / "base.yml"
    base.write_text(_nlu(BASE), encoding="utf-8")
    before = _trained(settings, tmp_path / "before", [base])
    assert before in BASE
    wanted = next(intent for intent in BASE if intent != before)  # teach it otherwise

    _store(sessions, [said("web-r1", SENTENCE, T0, intent=before)])
    with sessions() as s, s.begin():
        [turn] = listing.turns_of(s, "web-r1")
        corrections.correct(s, turn, "reviewer", intent=wanted)
    with sessions() as s:
        export = tmp_path / "reviewed.yml"
        export.write_text(corrections.nlu_yaml(corrections.corrected_examples(s)), "utf-8")

    validated = subprocess.run(
        [str(rasa_bin(settings)), "data", "validate", "--config", str(CONFIG),
         "--data", *map(str, [*nlu_files(), *TRAINING_FILES, export]),
         "--domain", str(DOMAIN), "--fail-on-warnings"],
        cwd=PROJECT_ROOT, env=rasa_env(settings), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert validated.returncode == 0, validated.stdout[-2000:] + validated.stderr[-2000:]

    after = _trained(settings, tmp_path / "after", [base, export])
    assert (before, after) == (before, wanted), json.dumps([before, wanted, after])
