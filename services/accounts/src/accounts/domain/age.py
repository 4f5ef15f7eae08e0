"""The age rule of sign-up (ACC-3): the platform is not for children."""

from __future__ import annotations

from datetime import date

from accounts.domain.errors import InvalidChange, TooYoung


def parse_date_of_birth(value: str) -> date:
    """A ``YYYY-MM-DD`` date of birth; ``InvalidChange`` when it is not one."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidChange("date_of_birth must be YYYY-MM-DD") from None


def age_on(born: date, today: date) -> int:
    """Completed years between ``born`` and ``today``."""
    before_birthday = (today.month, today.day) < (born.month, born.day)
    return today.year - born.year - int(before_birthday)


def check_age(date_of_birth: str | None, today: date, min_age: int) -> None:
    """Refuse a date of birth under ``min_age`` or in the future; none given is fine.

    The error message carries no part of the date (nothing of a refused attempt is kept).
    """
    if date_of_birth is None:
        return
    born = parse_date_of_birth(date_of_birth)
    if born > today:
        raise InvalidChange("date_of_birth is in the future")
    if age_on(born, today) < min_age:
        raise TooYoung(f"members must be at least {min_age} years old")
