"""Notifications for the team: preferences, fan-out, the bell, e-mail now, the daily digest, Slack,
escalation and snooze (`notify.rules` is the pure part; `notify.service` the store's)."""
