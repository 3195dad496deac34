"""The audit log is append-only, enforced by the database (PostgreSQL), not only by the code:
a row is never deleted, and never updated except that the actor becomes NULL when that user
row itself is deleted (the foreign key's SET NULL). TRUNCATE (test-database flushes) is not a
row operation and is unaffected. SQLite (local development) relies on the code alone."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION moderation_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the moderation audit log is append-only: entries are never deleted';
    END IF;
    IF NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
       AND (NEW.id, NEW.action, NEW.target_type, NEW.target_id, NEW.reason, NEW.details, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.action, OLD.target_type, OLD.target_id, OLD.reason, OLD.details, OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the moderation audit log is append-only: entries are never updated';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER moderation_audit_log_append_only
BEFORE UPDATE OR DELETE ON moderation_auditlogentry
FOR EACH ROW EXECUTE FUNCTION moderation_audit_log_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS moderation_audit_log_append_only ON moderation_auditlogentry;
DROP FUNCTION IF EXISTS moderation_audit_log_append_only();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0003_load_starter_registry")]
    operations = [migrations.RunPython(create, drop)]
