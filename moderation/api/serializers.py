"""What the staff console sees of moderation's rows."""

from rest_framework import serializers

from moderation.models import (
    AuditLogEntry,
    Case,
    Decision,
    PolicyVersion,
    PublicFigure,
    Strike,
    Suspension,
)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class DecisionOutputSerializer(serializers.ModelSerializer):
    policy_version = serializers.IntegerField(source="policy_version.version")
    matched_figure = serializers.CharField(source="matched_figure.name", default=None)

    class Meta:
        model = Decision
        fields = [
            "id",
            "stage",
            "outcome",
            "categories",
            "scores",
            "model_versions",
            "policy_version",
            "matched_figure",
            "user_id",
            "end_user",
            "prompt",
            "generation_id",
            "image_id",
            "overturned",
            "created_at",
        ]


class CaseOutputSerializer(serializers.ModelSerializer):
    assignee = UserRefSerializer(allow_null=True)
    subject_user = UserRefSerializer(allow_null=True)
    resolved_by = UserRefSerializer(allow_null=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "source",
            "category",
            "priority",
            "state",
            "assignee",
            "subject_user",
            "decision_id",
            "generation_id",
            "image_id",
            "summary",
            "resolution",
            "actions",
            "resolution_reason",
            "resolved_by",
            "resolved_at",
            "created_at",
            "updated_at",
        ]


class CaseDetailOutputSerializer(CaseOutputSerializer):
    decision = DecisionOutputSerializer(allow_null=True)
    reports = serializers.SerializerMethodField()
    appeal_text = serializers.SerializerMethodField()

    class Meta(CaseOutputSerializer.Meta):
        fields = [*CaseOutputSerializer.Meta.fields, "decision", "reports", "appeal_text"]

    def get_reports(self, case: Case) -> list[dict]:
        return [
            {"reason": r.reason, "details": r.details, "anonymous": r.reporter_id is None}
            for r in case.reports.order_by("created_at")
        ]

    def get_appeal_text(self, case: Case) -> str | None:
        appeal = getattr(case, "appeal", None)
        return appeal.text if appeal is not None else None


class StrikeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Strike
        fields = ["id", "end_user", "category", "decision_id", "created_at"]


class SuspensionOutputSerializer(serializers.ModelSerializer):
    created_by = UserRefSerializer(allow_null=True)
    is_ban = serializers.SerializerMethodField()

    class Meta:
        model = Suspension
        fields = [
            "id",
            "user_id",
            "end_user",
            "reason",
            "ends_at",
            "is_ban",
            "lifted_at",
            "created_by",
            "case_id",
            "created_at",
        ]

    def get_is_ban(self, suspension: Suspension) -> bool:
        return suspension.ends_at is None


class FigureOutputSerializer(serializers.ModelSerializer):
    faces = serializers.IntegerField(source="face_count", default=0, read_only=True)

    class Meta:
        model = PublicFigure
        fields = [
            "id",
            "name",
            "aliases",
            "ambiguous_aliases",
            "category",
            "external_id",
            "is_active",
            "faces",
        ]


class PolicyVersionOutputSerializer(serializers.ModelSerializer):
    created_by = UserRefSerializer(allow_null=True)

    class Meta:
        model = PolicyVersion
        fields = ["version", "rules", "reason", "created_by", "created_at"]


class AuditLogEntryOutputSerializer(serializers.ModelSerializer):
    actor = UserRefSerializer(allow_null=True)

    class Meta:
        model = AuditLogEntry
        fields = [
            "id",
            "actor",
            "action",
            "target_type",
            "target_id",
            "reason",
            "details",
            "created_at",
        ]
