"""PostgreSQL: the link-click hot path as one PL/pgSQL function, `referrals_record_click`.

A click writes three rows (device upsert, IP sighting, click) after checking the code. As one
plain SQL statement PostgreSQL parsed and planned it on every click, about as much server CPU
as running it; PL/pgSQL keeps each statement's plan for the life of the connection, which halves
the database's work per click (docs/performance.md) and works behind any connection pooler.

The function writes exactly what the ORM path writes (`referrals.selectors.usable_code` +
`referrals.services.attribution.record_click`; tests/referrals/test_click_fast_path.py compares
them). It names tables and columns as of this migration: a later change to Click, Device or
IPSighting must replace it in its own migration. Other databases use the ORM path.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION referrals_record_click(
    p_code text, p_device_hash text, p_user_agent text, p_ip_hash text, p_ip_country text,
    p_raw_ip inet, p_channel text, p_now timestamptz
) RETURNS TABLE (click_id bigint, code text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_code_id bigint;
    v_code text;
    v_device_id bigint;
BEGIN
    -- Unknown, disabled and flagged codes: no row, nothing written (the caller cannot tell them apart).
    SELECT rc.id, rc.code INTO v_code_id, v_code
    FROM referrals_referralcode rc JOIN accounts_user u ON u.id = rc.user_id
    WHERE rc.code = p_code AND rc.is_active AND u.status <> 'flagged';
    IF v_code_id IS NULL THEN
        RETURN;
    END IF;
    -- Clicks are analytics, never reward state: an asynchronous commit of this transaction may
    -- lose the last few clicks if PostgreSQL crashes, and saves a WAL flush per click.
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO accounts_device (id_hash, fingerprint_hash, user_agent, first_seen_at, last_seen_at)
    VALUES (p_device_hash, '', p_user_agent, p_now, p_now)
    ON CONFLICT (id_hash) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at
    RETURNING id INTO v_device_id;
    INSERT INTO accounts_ipsighting (user_id, kind, ip_hash, ip_country, raw_ip, user_agent, seen_at)
    VALUES (NULL, 'click', p_ip_hash, p_ip_country, p_raw_ip, p_user_agent, p_now);
    INSERT INTO referrals_click (referral_code_id, channel, clicked_at, device_id, ip_hash, ip_country)
    VALUES (v_code_id, p_channel, p_now, v_device_id, p_ip_hash, p_ip_country)
    RETURNING id INTO click_id;
    code := v_code;
    RETURN NEXT;
END
$$;
"""
DROP = "DROP FUNCTION IF EXISTS referrals_record_click(text, text, text, text, text, inet, text, timestamptz);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0003_click_code_fk_without_own_index"),
        ("accounts", "0006_hash_indexes_without_like"),
    ]

    operations = [migrations.RunPython(create, drop)]
