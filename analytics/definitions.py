"""The one-line definition of every figure, shown in the console's definition box (docs/analytics.md)."""

from __future__ import annotations

DEFINITIONS: dict[str, str] = {
    "start": "Σ opening ARR (the day before the period) of the cohort: accounts with opening > 0; new logos excluded.",
    "churn": "Σ opening ARR of cohort accounts whose closing ARR is 0.",
    "contraction": "Σ (opening − closing) of cohort accounts that closed below their opening but above 0.",
    "expansion": "Σ (closing − opening) of cohort accounts that closed above their opening.",
    "new": "Σ closing ARR of accounts that started from 0 in the period and never had ARR before it.",
    "reactivation": "Σ closing ARR of accounts that started from 0 in the period and had ARR before it.",
    "closing": "Σ ARR of every account on the period's last day.",
    "grr": "Gross revenue retention = (start − contraction − churn) ÷ start; never above 100 %.",
    "nrr": "Net revenue retention = (start + expansion − contraction − churn) ÷ start; read with GRR.",
    "logo_churn": "Cohort accounts whose closing ARR is 0 ÷ cohort accounts.",
    "revenue_churn": "Churn ÷ start.",
    "expansion_rate": "Expansion ÷ start.",
    "contraction_rate": "Contraction ÷ start.",
    "net_mrr_churn": "(Churn + contraction − expansion − reactivation) ÷ start.",
    "quick_ratio": "(New + reactivation + expansion) ÷ (churn + contraction); none when nothing was lost.",
    "arr_renewal_rate": "Σ renewed ÷ Σ up for renewal, over the term ends decided in the period.",
    "customer_renewal_rate": "Renewals that kept some ARR ÷ renewals up, over the term ends decided in the period.",
    "undecided": "Terms whose renewal date passed in the period with no renewal booked or lost (counted apart).",
    "cltv": "ARPA (start MRR ÷ cohort accounts) × gross margin ÷ monthly logo churn; none when no logo churned.",
    "expected_renewal_arr": "Σ ARR due × p(health band), p from the defaults or the workspace's own renewals.",
    "revenue_at_risk": "Σ ARR due × (1 − p(health band)).",
}
