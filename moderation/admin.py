"""Django admin for moderation: read-only on purpose.

Every change to cases, suspensions, the policy or the registry must go through the services
(the staff console and /api/v1/staff/), which write the audit log; an admin form would not.
"""

from django.contrib import admin
from django.http import HttpRequest

from moderation.models import (
    Appeal,
    AuditLogEntry,
    Case,
    Decision,
    FigureFace,
    PolicyVersion,
    PublicFigure,
    Report,
    Strike,
    Suspension,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "created_by", "created_at", "reason"]


class FigureFaceInline(admin.TabularInline):
    model = FigureFace
    fields = ("embedding_model", "source_name", "created_at")
    readonly_fields = ("embedding_model", "source_name", "created_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(PublicFigure)
class PublicFigureAdmin(ReadOnlyAdmin):
    list_display = ["name", "category", "is_active", "external_id"]
    list_filter = ["is_active", "category"]
    search_fields = ["name", "external_id"]
    inlines = [FigureFaceInline]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "stage",
        "outcome",
        "categories",
        "policy_version",
        "overturned",
        "created_at",
    ]
    list_filter = ["stage", "outcome", "overturned"]
    search_fields = ["=id", "=generation_id", "=image_id", "end_user"]
    date_hierarchy = "created_at"


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "source",
        "category",
        "priority",
        "state",
        "assignee",
        "resolution",
        "created_at",
    ]
    list_filter = ["state", "source", "category", "resolution"]
    search_fields = ["=id", "=image_id", "subject_user__email"]
    ordering = ["-priority", "created_at"]


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "image_id", "reason", "reporter", "case", "created_at"]
    list_filter = ["reason"]


@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "decision", "image_id", "case", "created_at"]
    search_fields = ["user__email"]


@admin.register(Strike)
class StrikeAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "end_user", "category", "created_at"]
    list_filter = ["category"]
    search_fields = ["user__email", "end_user"]


@admin.register(Suspension)
class SuspensionAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "end_user", "ends_at", "lifted_at", "created_by", "created_at"]
    search_fields = ["user__email", "end_user"]


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id", "reason"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_id", "actor__email", "reason"]
    date_hierarchy = "created_at"
