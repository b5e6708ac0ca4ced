"""PostgreSQL: crediting one referral (the per-referral task) as one PL/pgSQL function, `referrals_credit_referral`.

Through the ORM a credit was about twenty statements (lock, reward check, members, terms, counter insert/lock/raise,
coupon, ledger, state, timeline, regions, quarter counter insert/lock/raise, tiers, notices, outbox), each built and
compiled in Python and parsed and planned by PostgreSQL: ≈ 25 ms of CPU per task on the shared 2-core machine,
against well under 1 ms for a no-op task (docs/performance.md, issue 19). This function does the database side of
`referrals.services.batch.credit_locked` for a set of one in one call; PL/pgSQL keeps each statement's plan for
the life of the (persistent) connection, and nothing needs prepared statements, so it works behind any pooler.

It writes exactly what the ORM path writes (tests/referrals/test_credit_fast_path.py runs both on the same
referrals and compares every row): the referral locked, the terms frozen at sign-up (or the referrer's region's
when there is no snapshot), the monthly counter created, locked and raised under the limit (G2: exact under any
concurrency, the counter's row lock orders concurrent credits), the coupon with its 'issued' ledger row, the
state, the timeline row, and the quarter's milestone counter. It returns what the Python side needs for the
words (the notices are rendered in the referrer's language, in Python, and written with `notify_many` in the
same transaction) and whether a milestone tier was reached (then Python issues it: rare, and the award path is
shared with the sweep). It names tables and columns as of this migration: a change to Referral, Coupon,
LedgerEntry, ReferralEvent, the counters, MilestoneTier or Region must replace it in a new migration (the
comparison test fails until it does). Other databases use the ORM path.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION referrals_credit_referral(p_referral bigint, p_now timestamptz)
RETURNS TABLE (
    outcome text, referrer_id bigint, referrer_language text, referrer_country text,
    friend_first_name text, friend_last_name text, value numeric, min_spend numeric, currency text,
    expires_at timestamptz, month date, monthly_limit integer, limit_reached boolean,
    region_id bigint, quarter date, place integer, tier_reached boolean, acted boolean
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
    r referrals_referral;
    v_terms jsonb;
    v_region accounts_region;
    v_value_text text;
    v_min_text text;
    v_days integer;
    v_zone text;
    v_counter_id bigint;
    v_count integer;
    v_coupon_id bigint;
    v_credited boolean;
    v_country text;
    v_milestone_zone text;
BEGIN
    acted := false;  -- true only when this call credited or capped the referral
    SELECT * INTO r FROM referrals_referral WHERE id = p_referral FOR UPDATE;
    IF NOT FOUND THEN
        outcome := '';
        RETURN NEXT;
        RETURN;
    END IF;
    IF r.state <> 'qualified' OR (r.credit_due_at IS NOT NULL AND r.credit_due_at > p_now) THEN
        outcome := r.state;  -- decided already, or not due yet (the sweep picks it up when it is)
        RETURN NEXT;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM coupons_coupon c WHERE c.referral_id = r.id) THEN
        outcome := 'has_coupon';  -- cannot happen through crediting; the caller logs it and issues nothing
        RETURN NEXT;
        RETURN;
    END IF;
    referrer_id := r.referrer_id;
    SELECT u.language, u.country INTO referrer_language, referrer_country FROM accounts_user u WHERE u.id = r.referrer_id;
    SELECT u.first_name, u.last_name INTO friend_first_name, friend_last_name FROM accounts_user u WHERE u.id = r.friend_id;

    -- The terms (referrals.services.terms.reward_terms): the snapshot's referrer side, else the region today.
    v_terms := r.terms -> 'referrer';
    IF r.terms IS NOT NULL AND r.terms <> '{}'::jsonb THEN
        currency := v_terms ->> 'currency';
        v_value_text := v_terms ->> 'reward_amount';
        v_min_text := v_terms ->> 'reward_min_spend';
        v_days := (v_terms ->> 'coupon_valid_days')::integer;
        monthly_limit := (v_terms ->> 'monthly_limit')::integer;
        v_zone := coalesce(nullif(v_terms ->> 'time_zone', ''), 'UTC');
    ELSE
        SELECT * INTO v_region FROM accounts_region g WHERE g.country = upper(coalesce(referrer_country, ''));
        IF NOT FOUND THEN
            SELECT * INTO v_region FROM accounts_region g WHERE g.is_default LIMIT 1;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no region for %% and no default region', referrer_country;
            END IF;
        END IF;
        currency := v_region.currency;
        v_value_text := v_region.reward_amount::text;
        v_min_text := v_region.reward_min_spend::text;
        v_days := v_region.coupon_valid_days;
        monthly_limit := v_region.monthly_limit;
        v_zone := coalesce(nullif(v_region.time_zone, ''), 'UTC');
    END IF;
    value := v_value_text::numeric;
    min_spend := v_min_text::numeric;
    month := date_trunc('month', p_now AT TIME ZONE v_zone)::date;

    -- The monthly counter (batch._take_slots): created, locked, raised only while under the limit.
    INSERT INTO referrals_monthlyrewardcounter (referrer_id, month, count) VALUES (r.referrer_id, month, 0)
    ON CONFLICT ON CONSTRAINT unique_counter_per_month DO NOTHING;
    SELECT c.id, c.count INTO v_counter_id, v_count FROM referrals_monthlyrewardcounter c
    WHERE c.referrer_id = r.referrer_id AND c.month = month FOR UPDATE;
    v_credited := v_count < monthly_limit;
    IF v_credited THEN
        UPDATE referrals_monthlyrewardcounter SET count = count + 1 WHERE id = v_counter_id;
        v_count := v_count + 1;
    END IF;
    limit_reached := v_count >= monthly_limit;

    IF v_credited THEN
        -- coupons.services.issue_coupons: the coupon and its 'issued' ledger row.
        expires_at := p_now + v_days * interval '24 hours';
        INSERT INTO coupons_coupon (owner_id, referral_id, kind, source, title, value, currency, min_spend, issued_at,
            expires_at, status)
        VALUES (r.referrer_id, r.id, 'platform', 'referral', 'Referral reward', value, currency, min_spend, p_now,
            expires_at, 'active')
        RETURNING id INTO v_coupon_id;
        INSERT INTO coupons_ledgerentry (member_id, coupon_id, referral_id, event, amount, currency, reason,
            idempotency_key, created_at)
        SELECT r.referrer_id, v_coupon_id, r.id, 'issued', value, currency,
            left('Referral reward: first order of ' || u.email || ' completed', 300),
            'referral-reward:' || r.id, p_now
        FROM accounts_user u WHERE u.id = r.friend_id;
        UPDATE referrals_referral SET state = 'credited', reason_code = '', decided_at = p_now, updated_at = p_now,
            credited_at = p_now
        WHERE id = r.id;
        INSERT INTO referrals_referralevent (referral_id, from_state, to_state, reason_code, actor_kind, note,
            occurred_at, recorded_at)
        VALUES (r.id, 'qualified', 'credited', '', 'system',
            left('Coupon #' || v_coupon_id || ': ' || currency || ' ' || v_value_text || ' off ' || v_min_text
                 || ', valid until ' || to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC.', 500),
            p_now, p_now);

        -- The quarter's milestones (milestones.count_credits): the referrer's region today, its program quarter.
        v_country := upper(coalesce(referrer_country, ''));
        SELECT g.id, g.time_zone INTO region_id, v_milestone_zone FROM accounts_region g WHERE g.country = v_country;
        IF region_id IS NULL THEN
            SELECT g.id, g.time_zone INTO region_id, v_milestone_zone FROM accounts_region g WHERE g.is_default
            ORDER BY g.id LIMIT 1;
        END IF;
        quarter := date_trunc('quarter', p_now AT TIME ZONE coalesce(nullif(v_milestone_zone, ''), 'UTC'))::date;
        INSERT INTO referrals_quartercreditcounter (referrer_id, quarter, count) VALUES (r.referrer_id, quarter, 0)
        ON CONFLICT ON CONSTRAINT unique_counter_per_quarter DO NOTHING;
        UPDATE referrals_quartercreditcounter q SET count = q.count + 1
        WHERE q.referrer_id = r.referrer_id AND q.quarter = quarter
        RETURNING q.count INTO place;
        tier_reached := EXISTS (
            SELECT 1 FROM referrals_milestonetier t WHERE t.region_id = region_id AND t.is_active AND t.friends = place
        );
        outcome := 'credited';
    ELSE
        UPDATE referrals_referral SET state = 'capped', reason_code = 'MONTHLY_LIMIT', decided_at = p_now,
            updated_at = p_now
        WHERE id = r.id;
        INSERT INTO referrals_referralevent (referral_id, from_state, to_state, reason_code, actor_kind, note,
            occurred_at, recorded_at)
        VALUES (r.id, 'qualified', 'capped', 'MONTHLY_LIMIT', 'system',
            left(monthly_limit || ' of ' || monthly_limit || ' referral coupons already credited for '
                 || to_char(month, 'FMMonth YYYY') || '.', 500),
            p_now, p_now);
        outcome := 'capped';
    END IF;
    acted := true;
    RETURN NEXT;
END
$$;
"""
DROP = "DROP FUNCTION IF EXISTS referrals_credit_referral(bigint, timestamptz);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0013_mask_contacts_in_signals_and_timelines"),
        ("coupons", "0001_initial"),
        ("accounts", "0010_remove_display_currency_and_name_labels"),
    ]

    operations = [migrations.RunPython(create, drop)]
