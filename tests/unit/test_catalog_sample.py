"""The shipped sample catalog is valid, complete, and the NLU files generated from it are
up to date (they are never edited by hand)."""

from __future__ import annotations

from collections import Counter

from liangwang.catalog import nlu
from liangwang.catalog.loader import load
from liangwang.catalog.store import SAMPLE_CATALOG
from liangwang.complaints import nlu as complaints_nlu
from liangwang.districts import DISTRICTS

CATALOG = load(SAMPLE_CATALOG.read_text(encoding="utf-8"), "yaml")


def test_sample_catalog_is_marked_and_large_enough() -> None:
    assert CATALOG.sample is True
    assert len(CATALOG.services) >= 45


def test_every_in_person_service_has_an_office_in_all_16_districts() -> None:
    kinds = {s.office_kind for s in CATALOG.services if s.office_kind}
    for kind in kinds:
        districts = Counter(o.district for o in CATALOG.offices if o.kind == kind)
        assert set(districts) == set(DISTRICTS), kind


def test_required_services_are_present() -> None:
    names = " ".join(n for s in CATALOG.services for n in s.all_names())
    for required in (
        "居住证",
        "敬老卡",
        "长期护理保险",
        "养老金",
        "最低生活保障",
        "残疾人证",
        "结婚登记",
        "公积金",
        "护照",
        "港澳通行证",
        "随申码",
        "电子证照",
        "随申办",
    ):
        assert required in names, required


def test_generated_nlu_files_are_up_to_date() -> None:
    generated = nlu.generate(CATALOG.services)
    assert nlu.GENERATED_NLU.read_text(encoding="utf-8") == generated.nlu_yaml, "run make nlu"
    assert nlu.JIEBA_DICT.read_text(encoding="utf-8") == generated.jieba_dict, "run make nlu"


def test_generated_complaint_examples_are_up_to_date() -> None:
    expected = complaints_nlu.generate(complaints_nlu.load_examples())
    assert complaints_nlu.GENERATED_NLU.read_text(encoding="utf-8") == expected, "run make nlu"
