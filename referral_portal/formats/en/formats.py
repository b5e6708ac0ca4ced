"""The portal's English dates: day before month, 24-hour clock ("1 Mar 2026, 09:00", "resets 1 December").

Other languages use Django's own formats for their locale (German "1. Dezember", Portuguese "1 de dezembro").
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
