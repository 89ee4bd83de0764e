from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts.observer import run_observer
        from monitoring.reporter import observer_register

        # Every worker loads every app: its reporters feed each run's points to its rules
        # (monitoring never imports alerts; it only knows this hook).
        observer_register(run_observer)
