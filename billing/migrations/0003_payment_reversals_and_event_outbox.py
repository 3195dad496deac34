"""Take-backs of refunds and disputes are counted per payment (what was taken, what became
debt), so that events settle to the same state in any order; Stripe events get an outbox time.

Existing rows are converted: a payment's take-back becomes what its refund entries took plus
what its open or lost disputes took, and its debt what those disputes recorded (a won dispute
took and restored, so it counts for nothing).
"""

from django.db import migrations, models
from django.db.models import Sum


def take_backs_per_payment(apps, schema_editor):  # type: ignore[no-untyped-def]
    Payment = apps.get_model("billing", "Payment")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    for payment in Payment.objects.filter(models.Q(refunded_cents__gt=0) | models.Q(disputes__isnull=False)).distinct():
        refunds = LedgerEntry.objects.filter(kind="refund", stripe_object_id=payment.charge_id)
        taken = -(refunds.aggregate(total=Sum("amount"))["total"] or 0) if payment.charge_id else 0
        debt = 0
        for dispute in payment.disputes.filter(status__in=["open", "lost"]):
            taken += dispute.credits_taken
            debt += dispute.debt_recorded
        payment.credits_taken_back = taken
        payment.debt_recorded = debt
        payment.save(update_fields=["credits_taken_back", "debt_recorded"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_ledger_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="debt_recorded",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(take_backs_per_payment, migrations.RunPython.noop),
        migrations.RemoveField(model_name="dispute", name="credits_taken"),
        migrations.RemoveField(model_name="dispute", name="debt_recorded"),
        migrations.AddField(
            model_name="stripeevent",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="stripeevent",
            index=models.Index(
                condition=models.Q(("next_attempt_at__isnull", False)),
                fields=["next_attempt_at"],
                name="stripe_event_due",
            ),
        ),
    ]
