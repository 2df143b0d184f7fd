"""Notifications service: tells the people the system dispatches in time (offers, critical cases, deadlines,
escalations, weekly assessments) through WeCom and DingTalk robots, SMS, e-mail and an in-app inbox."""
