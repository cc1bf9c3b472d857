"""Campaigns (issue 17): audiences of people (`campaigns.definition` validates, `campaigns.audience` evaluates in
SQL), nurture tracks of ordered steps run by `campaigns.runner.run_due`, signed open/click tracking
(`campaigns.tracking`, `campaigns.web`) and per-step statistics (`campaigns.stats`). See docs/architecture.md,
"Campaigns"."""
