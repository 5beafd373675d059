-- Reporting views and macros analysts query directly (tables live in the NNN_*.sql migrations only).
-- Re-created by the migration runner whenever this file changes: everything here is idempotent.
-- Local dates, months and hours use the timezone stored in eur_settings (written by refresh_billing
-- from eur.yaml's `timezone`; UTC until the first billing run). Money sums stay DECIMAL (exact).

-- eur_timezone(): the reporting timezone.
CREATE OR REPLACE MACRO eur_timezone() AS
    coalesce((SELECT value FROM eur_settings WHERE key = 'timezone'), 'UTC');

-- eur_extension(jid, n): rightmost n digits of a numeric local part (shorter as is), else NULL.
-- Same rule as eur_pipeline.billing.directory.extension_of.
CREATE OR REPLACE MACRO eur_extension(jid, n) AS
    CASE WHEN regexp_full_match(split_part(split_part(jid, '@', 1), '/', 1), '[0-9]+')
         THEN right(split_part(split_part(jid, '@', 1), '/', 1), n) END;

-- eur_corporation(site): the site's first path segment ("Corporation 1/Avaya IM" -> "Corporation 1").
CREATE OR REPLACE MACRO eur_corporation(site) AS
    coalesce(nullif(trim(split_part(site, '/', 1)), ''), '(no site)');

-- ---------------------------------------------------------------- chargeback roll-ups (from billing)
-- `conversations` is not summed: one conversation has several participants. conversations_started
-- is additive (one initiator each).

-- One aggregation for all four roll-ups: a row per grouping set, tagged with its `dimension`.
CREATE OR REPLACE VIEW billing_rollup AS
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
FROM billing AS b
GROUP BY GROUPING SETS ((period, currency, corporation),
                        (period, currency, corporation, site),
                        (period, currency, department),
                        (period, currency, cost_center));

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

-- Top talkers: per period, users ranked by messages sent + received (rank 1 = busiest).
CREATE OR REPLACE VIEW top_talkers AS
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
FROM billing;

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
