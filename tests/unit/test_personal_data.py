"""Personal data as staff see it by default (liangwang/personal_data.py)."""

import pytest

from liangwang.personal_data import Shown, coarse_address, mask_phone, mask_text


def test_phone_numbers_keep_their_first_three_and_last_four_digits() -> None:
    assert mask_phone("13912345678") == "139****5678"
    assert mask_phone("+86 139 1234 5678") == "139****5678"
    assert mask_phone("021-1234") == "****34"
    assert mask_phone(None) == mask_phone("") == ""


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("有事打13912345678找我", "有事打139****5678找我"),
        ("回复就打 139 1234 5678 可以吗", "回复就打 139****5678 可以吗"),
        ("phone:13800138000", "phone:138****8000"),
        ("身份证310101199001011234", "身份证310101***********4"),
        ("身份证31010119900101123X号", "身份证310101***********X号"),
        ("编号 382 915，3 天内办好", "编号 382 915，3 天内办好"),  # a ticket number stays
        ("telegram-42", "telegram-42"),
    ],
)
def test_numbers_in_free_text_are_masked_and_the_rest_kept(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_an_address_is_cut_at_its_road_in_pages_and_in_the_public_feed() -> None:
    shown = Shown()
    assert shown.address("国和路100号3室") == "国和路****"
    assert shown.address("小区里") == "****"
    assert shown.text("国和路100号3室门口路灯坏了", "国和路100号3室") == "国和路****门口路灯坏了"
    assert coarse_address("杨浦区国和路100号门口", "杨浦区") == "杨浦区国和路"
    revealed = Shown(revealed=True)
    assert revealed.phone("13912345678") == "13912345678"
    assert revealed.text("国和路100号3室", "国和路100号3室") == "国和路100号3室"
