"""Users, their roles and the institutions they work for."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Institution(models.Model):
    """An academy, a police unit or a prosecutor's office."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    country = models.CharField(_("country"), max_length=2, help_text="ISO 3166-1 alpha-2")
    kind = models.CharField(
        _("kind"),
        max_length=20,
        choices=[
            ("academy", _("Academy")),
            ("police", _("Police unit")),
            ("prosecutor", _("Prosecutor's office")),
            ("other", _("Other")),
        ],
        default="academy",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    TRAINEE = "trainee", _("Trainee")
    TRAINER = "trainer", _("Trainer")
    # Training-of-trainers: previews any variant with its key and validates adapted
    # templates, but runs no class and sees no trainee's work.
    TRAINER_IN_TRAINING = "trainer_in_training", _("Trainer-in-training")
    EXAMINER = "examiner", _("Examiner")
    PROSECUTOR = "prosecutor", _("Prosecutor")
    COORDINATOR = "coordinator", _("Coordinator")
    ADMINISTRATOR = "administrator", _("Administrator")


# What each role may do with case records. Prosecutors read and verify; they never alter.
CAN_EDIT_CASES = {Role.EXAMINER, Role.TRAINER, Role.TRAINEE, Role.ADMINISTRATOR}


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.TRAINEE)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="members",
        verbose_name=_("institution"),
    )
    preferred_language = models.CharField(_("language"), max_length=8, blank=True)

    @property
    def can_edit_cases(self) -> bool:
        return self.is_superuser or self.role in CAN_EDIT_CASES

    @property
    def sees_all_cases(self) -> bool:
        return self.is_superuser or self.role == Role.ADMINISTRATOR
