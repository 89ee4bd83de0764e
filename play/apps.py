from django.apps import AppConfig


class PlayConfig(AppConfig):
    name = "play"
    verbose_name = "Play the model"
    default_auto_field = "django.db.models.BigAutoField"
