"""E-mail: templates (`mail.templates`, pure), MIME messages (`mail.message`, pure), the SMTP sender
(`mail.smtp`), the outbox (`mail.outbox`), consent (`mail.consent`), per-workspace settings
(`mail.settings`) and the public unsubscribe pages (`mail.web`). See docs/architecture.md, "Mail"."""
