import React, { useCallback, useEffect, useState } from "react";
import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListItem,
  Divider,
  Flex,
  Heading,
  List,
  LoadingSpinner,
  Statistics,
  StatisticsItem,
  StatisticsTrend,
  Tag,
  Text,
  hubspot,
} from "@hubspot/ui-extensions";

// Replaced by `canary manifests build --base-url ...`; must be listed in app-hsmeta.json permittedUrls.fetch.
const CANARY_BASE_URL = "{{CANARY_BASE_URL}}";
const FETCH_TIMEOUT_MS = 15000;
const BAND_VARIANTS = { good: "success", average: "warning", poor: "danger" };

const FULL_VIEW = { width: 860, height: 760 };

hubspot.extend(({ context, actions }) => <CanaryHealthCard context={context} actions={actions} />);

export function formatArr(arr) {
  if (arr === null || arr === undefined) {
    return "–";
  }
  return new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 }).format(arr);
}

// Only the record id goes in the URL: HubSpot appends the account (portalId), user and app ids to
// every hubspot.fetch request and signs the result, so Canary never trusts an account id the card chose.
export function cardUrl(companyId) {
  const query = new URLSearchParams({ companyId: String(companyId) });
  return `${CANARY_BASE_URL}/widgets/hubspot/card?${query.toString()}`;
}

async function loadHealth(companyId) {
  // hubspot.fetch signs the request (X-HubSpot-Signature-v3); Canary verifies it before answering.
  const response = await hubspot.fetch(cardUrl(companyId), { method: "GET", timeout: FETCH_TIMEOUT_MS });
  let body = null;
  try {
    body = await response.json();
  } catch (ignored) {
    body = null;
  }
  if (!response.ok || !body || typeof body !== "object") {
    throw new Error((body && body.error) || `Canary answered ${response.status}`);
  }
  return body;
}

export const CanaryHealthCard = ({ context, actions }) => {
  const companyId = context.crm.objectId;
  const [state, setState] = useState({ loading: true, error: null, health: null });

  const refresh = useCallback(() => {
    setState({ loading: true, error: null, health: null });
    loadHealth(companyId)
      .then((health) => setState({ loading: false, error: null, health }))
      .catch((error) => setState({ loading: false, error: error.message, health: null }));
  }, [companyId]);

  useEffect(refresh, [refresh]);

  if (state.loading) {
    return <LoadingSpinner label="Loading Canary health" layout="centered" />;
  }
  if (state.error) {
    return (
      <Flex direction="column" gap="small">
        <Alert title="Canary health is not available" variant="error">
          {state.error}
        </Alert>
        <Button onClick={refresh}>Try again</Button>
      </Flex>
    );
  }

  const health = state.health;
  const trendPerDay = health.trend_per_day;
  return (
    <Flex direction="column" gap="small">
      <Flex direction="row" gap="small" align="center">
        <Heading>{health.account.name}</Heading>
        <Tag variant={BAND_VARIANTS[health.band] || "default"}>{health.band_label}</Tag>
      </Flex>
      <Statistics>
        <StatisticsItem label="Health score" number={health.score === null ? "–" : String(health.score)}>
          {trendPerDay === null || trendPerDay === undefined ? null : (
            <StatisticsTrend
              direction={trendPerDay >= 0 ? "increase" : "decrease"}
              value={`${Math.round(Math.abs(trendPerDay) * 30)} points in 30 days`}
            />
          )}
        </StatisticsItem>
      </Statistics>
      <Text variant="microcopy">{health.trend}</Text>
      <Divider />
      <Heading>Why</Heading>
      {health.reasons.length === 0 ? (
        <Text>No reasons yet: Canary has not scored this company.</Text>
      ) : (
        <List variant="unordered-styled">
          {health.reasons.map((reason) => (
            <Text key={reason}>{reason}</Text>
          ))}
        </List>
      )}
      {health.scored_on ? <Text variant="microcopy">Scored on {health.scored_on}</Text> : null}
      <Divider />
      <DescriptionList direction="row">
        <DescriptionListItem label="Renewal">{health.renewal_date || "–"}</DescriptionListItem>
        <DescriptionListItem label="ARR">{formatArr(health.arr)}</DescriptionListItem>
        <DescriptionListItem label="CSM">{health.account.owner || "Unassigned"}</DescriptionListItem>
      </DescriptionList>
      {(health.alerts || []).length === 0 ? null : (
        <>
          <Heading>Open alerts</Heading>
          <List variant="unordered-styled">
            {health.alerts.map((alert) => (
              <Text key={alert.title}>{alert.title}</Text>
            ))}
          </List>
        </>
      )}
      {health.full_view_url && actions ? (
        <Button
          onClick={() =>
            actions.openIframeModal({
              uri: health.full_view_url,
              title: `Canary health: ${health.account.name}`,
              ...FULL_VIEW,
            })
          }
        >
          Open full view
        </Button>
      ) : null}
    </Flex>
  );
};
