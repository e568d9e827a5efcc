from django.contrib import admin

from dalil.app.training.models import Enrolment, LabAssignment, TrainingClass, Variant


class EnrolmentInline(admin.TabularInline[Enrolment, TrainingClass]):
    model = Enrolment
    extra = 0


@admin.register(TrainingClass)
class TrainingClassAdmin(admin.ModelAdmin[TrainingClass]):
    list_display = ["name", "course", "language", "starts_on", "trainer"]
    inlines = [EnrolmentInline]


@admin.register(LabAssignment)
class LabAssignmentAdmin(admin.ModelAdmin[LabAssignment]):
    list_display = ["template", "version", "training_class", "opens_at", "closes_at"]


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin[Variant]):
    # The answer key (VariantKey) is deliberately not registered: trainers read it through
    # the class pages, which check that they run the class.
    list_display = ["assignment", "trainee", "seed", "status"]
    list_filter = ["status"]
    exclude = ["tasks", "briefing", "evidence"]
    readonly_fields = ["seed", "country", "status", "error", "job", "generated_at"]
