"""Customer analytics, pure: subscriptions in force and ARR movements, retention and revenue figures (GRR, NRR,
churn, renewal rate, CLTV), the renewal forecast, health across the base, adoption and users, team performance.

No I/O and no clock: callers pass the rows and the day (`as_of`); the definitions are in docs/analytics.md.
"""
