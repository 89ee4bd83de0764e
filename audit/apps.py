from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Sign-ins, sign-outs, refused sign-ins and admin changes arrive as Django's signals.
        from audit import signals

        signals.connect()
