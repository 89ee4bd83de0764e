"""Celery tasks of the alerts app (the ``default`` queue): ids in, one service call."""

from celery import shared_task

from alerts import services


@shared_task(name=services.DELIVER_WEBHOOK_TASK)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at a webhook delivery; the service schedules the next one on failure."""
    return services.webhook_deliver(delivery_id=delivery_id)


@shared_task(name=services.SEND_EMAIL_TASK)
def send_email(alert_id: int) -> bool:
    """E-mail the run's owner about an alert (Django's e-mail backend)."""
    return services.alert_email_send(alert_id=alert_id)
