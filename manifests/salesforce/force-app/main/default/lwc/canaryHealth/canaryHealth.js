import { LightningElement, api, wire } from "lwc";
import { getRecord, getFieldValue } from "lightning/uiRecordApi";
import SCORE_FIELD from "@salesforce/schema/Account.Canary_Health_Score__c";
import BAND_FIELD from "@salesforce/schema/Account.Canary_Health_Band__c";
import TREND_FIELD from "@salesforce/schema/Account.Canary_Health_Trend__c";
import REASONS_FIELD from "@salesforce/schema/Account.Canary_Health_Reasons__c";
import SCORED_AT_FIELD from "@salesforce/schema/Account.Canary_Scored_At__c";

// The five fields Canary sync writes; read natively through Lightning Data Service, no callout.
const FIELDS = [SCORE_FIELD, BAND_FIELD, TREND_FIELD, REASONS_FIELD, SCORED_AT_FIELD];
const BAND_LABELS = { good: "Good", average: "Average", poor: "Poor" };
const STEADY_POINTS_PER_DAY = 0.1;

export default class CanaryHealth extends LightningElement {
    @api recordId;
    record;
    error;

    @wire(getRecord, { recordId: "$recordId", fields: FIELDS })
    wiredAccount({ data, error }) {
        this.record = data;
        this.error = error;
    }

    get isLoading() {
        return !this.record && !this.error;
    }

    get errorMessage() {
        const body = this.error && this.error.body;
        if (Array.isArray(body)) {
            return body.map((item) => item.message).join(", ");
        }
        return (body && body.message) || "Canary health could not be loaded.";
    }

    get score() {
        return this.record ? getFieldValue(this.record, SCORE_FIELD) : null;
    }

    get band() {
        return this.record ? getFieldValue(this.record, BAND_FIELD) : null;
    }

    get isScored() {
        return this.score !== null && this.score !== undefined;
    }

    get scoreText() {
        return this.isScored ? String(Math.round(this.score)) : "–";
    }

    get bandLabel() {
        return BAND_LABELS[this.band] || "Not scored yet";
    }

    get badgeClass() {
        const band = BAND_LABELS[this.band] ? this.band : "none";
        return `badge band-${band}`;
    }

    get badgeAssistiveText() {
        return this.isScored ? `Health ${this.scoreText}, ${this.bandLabel}` : "Not scored yet";
    }

    get trend() {
        return this.record ? getFieldValue(this.record, TREND_FIELD) : null;
    }

    get hasTrend() {
        return this.trend !== null && this.trend !== undefined;
    }

    get trendIcon() {
        if (this.trend > STEADY_POINTS_PER_DAY) {
            return "utility:arrowup";
        }
        if (this.trend < -STEADY_POINTS_PER_DAY) {
            return "utility:arrowdown";
        }
        return "utility:forward";
    }

    get trendText() {
        if (!this.hasTrend) {
            return "No trend yet";
        }
        if (Math.abs(this.trend) <= STEADY_POINTS_PER_DAY) {
            return "Steady over 30 days";
        }
        const perMonth = Math.round(Math.abs(this.trend) * 30);
        const direction = this.trend > 0 ? "Up" : "Down";
        return `${direction} ${perMonth} points over 30 days`;
    }

    get trendClass() {
        if (this.trend > STEADY_POINTS_PER_DAY) {
            return "trend trend-up";
        }
        return this.trend < -STEADY_POINTS_PER_DAY ? "trend trend-down" : "trend";
    }

    get reasons() {
        const text = this.record ? getFieldValue(this.record, REASONS_FIELD) : null;
        if (!text) {
            return [];
        }
        return text
            .split(/\r?\n/)
            .map((line) => line.replace(/^[-*•]\s*/, "").trim())
            .filter((line) => line.length > 0)
            .map((line, index) => ({ key: `reason-${index}`, text: line }));
    }

    get hasReasons() {
        return this.reasons.length > 0;
    }

    get scoredAt() {
        return this.record ? getFieldValue(this.record, SCORED_AT_FIELD) : null;
    }
}
