"""Working-day deadlines (办理时限): the rules, and the calendars admins enter for years the
chinese-calendar package lacks. The calendar itself is hub.core.workdays.
"""
