-- Reporting views and macros analysts query directly (tables live in the NNN_*.sql migrations only).
-- Re-created by the migration runner whenever this file changes: everything here is idempotent.
-- Local dates, months and hours use the timezone stored in eur_settings (written by refresh_billing
-- from eur.yaml's `timezone`; UTC until the first billing run). Money sums stay DECIMAL (exact).

-- eur_timezone(): the reporting timezone.
CREATE OR REPLACE MACRO eur_timezone() AS
    coalesce((SELECT value FROM eur_settings WHERE key = 'timezone'), 'UTC');

-- eur_local(instant): a stored UTC instant as a local TIMESTAMP in the reporting timezone.
CREATE OR REPLACE MACRO eur_local(instant) AS timezone(eur_timezone(), instant);

-- eur_this_month(): the first day of the current month in the reporting timezone (billing's `period`).
CREATE OR REPLACE MACRO eur_this_month() AS date_trunc('month', eur_local(now()))::DATE;

-- eur_extension(jid, n): rightmost n digits of a numeric local part (shorter as is), else NULL.
-- Same rule as eur_pipeline.billing.directory.extension_of.
CREATE OR REPLACE MACRO eur_extension(jid, n) AS
    CASE WHEN regexp_full_match(split_part(split_part(jid, '@', 1), '/', 1), '[0-9]+')
         THEN right(split_part(split_part(jid, '@', 1), '/', 1), n) END;

-- eur_corporation(site): the site's first path segment ("Corporation 1/Avaya IM" -> "Corporation 1").
CREATE OR REPLACE MACRO eur_corporation(site) AS
    coalesce(nullif(trim(split_part(site, '/', 1)), ''), '(no site)');

-- ---------------------------------------------------------------- people and messages, for joining

-- Every user seen in billing (attributes of their latest period) or listed in the directory (not seen
-- yet: messages_total 0; a directory row keyed by extension alone has no user_jid).
CREATE OR REPLACE VIEW users AS
WITH billed AS (
    SELECT user_jid,
           arg_max(extension, period)                                 AS extension,
           arg_max(name, period)                                      AS name,
           arg_max(department, period)                                AS department,
           arg_max(cost_center, period)                               AS cost_center,
           arg_max(site, period)                                      AS site,
           min(period)                                                AS first_period,
           max(period)                                                AS last_period,
           sum(messages_sent + messages_received)                     AS messages_total
    FROM billing
    GROUP BY user_jid
)
SELECT * FROM billed
UNION ALL
SELECT d.user_jid, d.extension, d.name, d.department, d.cost_center, d.site,
       NULL::DATE AS first_period, NULL::DATE AS last_period, 0::HUGEINT AS messages_total
FROM directory AS d
WHERE NOT EXISTS (SELECT 1 FROM billed AS b WHERE b.user_jid = d.handle OR b.extension = d.handle);

-- One row per message × recipient (the `recipients` list unnested), with local time.
CREATE OR REPLACE VIEW message_recipients AS
SELECT message_id,
       thread_id,
       sent_at,
       eur_local(sent_at)                                             AS sent_local,
       sender,
       unnest(recipients)                                             AS recipient
FROM messages;

-- messages with local-time columns (day, month = billing period, ISO weekday, hour).
CREATE OR REPLACE VIEW messages_local AS
SELECT *,
       eur_local(sent_at)                                             AS sent_local,
       eur_local(sent_at)::DATE                                       AS sent_day,
       date_trunc('month', eur_local(sent_at))::DATE                  AS period,
       isodow(eur_local(sent_at))                                     AS weekday,
       hour(eur_local(sent_at))                                       AS hour
FROM messages;

-- conversations with local start and end, and the billing period they started in.
CREATE OR REPLACE VIEW conversations_local AS
SELECT *,
       eur_local(started_at)                                          AS started_local,
       eur_local(ended_at)                                            AS ended_local,
       date_trunc('month', eur_local(started_at))::DATE               AS period
FROM conversations;

-- ---------------------------------------------------------------- chargeback roll-ups (from billing)
-- `conversations` is not summed: one conversation has several participants. conversations_started
-- is additive (one initiator each).

-- billing_in_scope(kind, name): the billing rows of one report scope — 'all' (name ignored), or the
-- 'department' / 'cost_center' / 'site' of that name as the report labels it ('(no department)' etc.).
CREATE OR REPLACE MACRO billing_in_scope(scope_kind, scope_name) AS TABLE
SELECT * FROM billing
WHERE scope_kind = 'all'
   OR (scope_kind = 'department' AND coalesce(department, '(no department)') = scope_name)
   OR (scope_kind = 'cost_center' AND coalesce(cost_center, '(no cost center)') = scope_name)
   OR (scope_kind = 'site' AND coalesce(site, '(no site)') = scope_name);

-- One aggregation for all four roll-ups: a row per grouping set, tagged with its `dimension`;
-- billing_rollup_of(kind, name) over one scope's rows, billing_rollup over all of them.
CREATE OR REPLACE MACRO billing_rollup_of(scope_kind, scope_name) AS TABLE
SELECT period,
       currency,
       CASE WHEN grouping(department) = 0 THEN 'department'
            WHEN grouping(cost_center) = 0 THEN 'cost_center'
            WHEN grouping(site) = 0 THEN 'site'
            ELSE 'corporation' END                                    AS dimension,
       eur_corporation(b.site)                                        AS corporation,
       coalesce(b.site, '(no site)')                                  AS site,
       coalesce(b.department, '(no department)')                      AS department,
       coalesce(b.cost_center, '(no cost center)')                    AS cost_center,
       count(*)                                                       AS users,
       count(*) FILTER (WHERE messages_sent + messages_received > 0)  AS active_users,
       sum(messages_sent)                                             AS messages_sent,
       sum(messages_received)                                         AS messages_received,
       sum(conversations_started)                                     AS conversations_started,
       sum(usage_cost)                                                AS usage_cost,
       sum(fee)                                                       AS fee,
       sum(markup)                                                    AS markup,
       sum(tax)                                                       AS tax,
       sum(total_cost)                                                AS total_cost
FROM billing_in_scope(scope_kind, scope_name) AS b
GROUP BY GROUPING SETS ((period, currency, corporation),
                        (period, currency, corporation, site),
                        (period, currency, department),
                        (period, currency, cost_center));

CREATE OR REPLACE VIEW billing_rollup AS SELECT * FROM billing_rollup_of('all', NULL);

CREATE OR REPLACE VIEW billing_by_corporation AS
SELECT period, corporation, currency, * EXCLUDE (period, currency, dimension, corporation, site, department, cost_center)
FROM billing_rollup WHERE dimension = 'corporation';

CREATE OR REPLACE VIEW billing_by_site AS
SELECT period, corporation, site, currency,
       * EXCLUDE (period, currency, dimension, corporation, site, department, cost_center)
FROM billing_rollup WHERE dimension = 'site';

CREATE OR REPLACE VIEW billing_by_department AS
SELECT period, department, currency, * EXCLUDE (period, currency, dimension, corporation, site, department, cost_center)
FROM billing_rollup WHERE dimension = 'department';

CREATE OR REPLACE VIEW billing_by_cost_center AS
SELECT period, cost_center, currency, * EXCLUDE (period, currency, dimension, corporation, site, department, cost_center)
FROM billing_rollup WHERE dimension = 'cost_center';

-- Top talkers: per period, users ranked by messages sent + received (rank 1 = busiest); top_talkers_of
-- ranks within one report scope.
CREATE OR REPLACE MACRO top_talkers_of(scope_kind, scope_name) AS TABLE
SELECT period,
       rank() OVER (PARTITION BY period
                    ORDER BY messages_sent + messages_received DESC, messages_sent DESC) AS rank,
       user_jid, extension, name, department, cost_center, site,
       messages_sent,
       messages_received,
       messages_sent + messages_received                              AS messages_total,
       conversations,
       conversations_started,
       total_cost,
       currency
FROM billing_in_scope(scope_kind, scope_name);

CREATE OR REPLACE VIEW top_talkers AS SELECT * FROM top_talkers_of('all', NULL);

-- Budgets (rates.yaml `budgets:`): per billed period × budget line, what the scope spent against it.
-- share = spent / budget (NULL for a zero budget); over_budget once spent exceeds the budget.
CREATE OR REPLACE VIEW budget_status AS
WITH periods AS (SELECT DISTINCT period FROM billing),
spent AS (
    SELECT period, 'department' AS scope, department AS name, sum(total_cost) AS spent
    FROM billing WHERE department IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT period, 'cost_center', cost_center, sum(total_cost)
    FROM billing WHERE cost_center IS NOT NULL GROUP BY ALL
)
SELECT p.period,
       l.scope,
       l.name,
       l.budget,
       coalesce(s.spent, 0)::DECIMAL(18, 4)                           AS spent,
       round(coalesce(s.spent, 0) / nullif(l.budget, 0), 4)::DECIMAL(12, 4) AS share,
       coalesce(s.spent, 0) > l.budget                                AS over_budget,
       l.currency
FROM periods AS p
CROSS JOIN budget_lines AS l
LEFT JOIN spent AS s ON s.period = p.period AND s.scope = l.scope AND s.name = l.name;

-- ---------------------------------------------------------------- usage (from messages, local time)

-- One row per local day with traffic.
CREATE OR REPLACE VIEW usage_by_day AS
SELECT timezone(eur_timezone(), sent_at)::DATE                        AS day,
       count(*)                                                       AS messages,
       sum(recipient_count)                                           AS deliveries,
       count(DISTINCT sender)                                         AS active_senders,
       count(DISTINCT thread_id)                                      AS conversations
FROM messages
GROUP BY day;

-- Messages per period × ISO weekday (1 = Monday) × local hour: the heatmap's data.
CREATE OR REPLACE VIEW usage_by_hour AS
SELECT date_trunc('month', timezone(eur_timezone(), sent_at))::DATE   AS period,
       isodow(timezone(eur_timezone(), sent_at))                      AS weekday,
       dayname(timezone(eur_timezone(), sent_at))                     AS weekday_name,
       hour(timezone(eur_timezone(), sent_at))                        AS hour,
       count(*)                                                       AS messages
FROM messages
GROUP BY period, weekday, weekday_name, hour;

-- ---------------------------------------------------------------- conversations (period of started_at)

CREATE OR REPLACE VIEW multiparty_share AS
SELECT date_trunc('month', timezone(eur_timezone(), started_at))::DATE AS period,
       count(*)                                                       AS conversations,
       count(*) FILTER (WHERE is_multiparty)                          AS multiparty,
       round(count(*) FILTER (WHERE is_multiparty) / count(*), 4)     AS multiparty_share
FROM conversations
GROUP BY period;

-- Distribution of conversation length in messages.
CREATE OR REPLACE VIEW conversation_length AS
WITH bucketed AS (
    SELECT date_trunc('month', timezone(eur_timezone(), started_at))::DATE AS period,
           CASE WHEN message_count <= 1 THEN 1 WHEN message_count = 2 THEN 2
                WHEN message_count <= 5 THEN 3 WHEN message_count <= 10 THEN 4
                WHEN message_count <= 20 THEN 5 ELSE 6 END             AS bucket_order
    FROM conversations
)
SELECT period,
       bucket_order,
       ['1', '2', '3-5', '6-10', '11-20', '21+'][bucket_order]          AS messages,
       count(*)                                                       AS conversations,
       round(count(*) / sum(count(*)) OVER (PARTITION BY period), 4)  AS share
FROM bucketed
GROUP BY period, bucket_order;

-- Distribution of conversation duration (first to last message).
CREATE OR REPLACE VIEW conversation_duration AS
WITH bucketed AS (
    SELECT date_trunc('month', timezone(eur_timezone(), started_at))::DATE AS period,
           CASE WHEN duration_seconds < 60 THEN 1 WHEN duration_seconds < 300 THEN 2
                WHEN duration_seconds < 900 THEN 3 WHEN duration_seconds < 3600 THEN 4
                WHEN duration_seconds < 14400 THEN 5 ELSE 6 END        AS bucket_order
    FROM conversations
)
SELECT period,
       bucket_order,
       ['< 1 min', '1-5 min', '5-15 min', '15-60 min', '1-4 h', '4 h +'][bucket_order] AS duration,
       count(*)                                                       AS conversations,
       round(count(*) / sum(count(*)) OVER (PARTITION BY period), 4)  AS share
FROM bucketed
GROUP BY period, bucket_order;
