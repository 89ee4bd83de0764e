from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Training runs"

    def ready(self) -> None:
        from monitoring import access
        from runs import selectors

        # monitoring learns who may watch a run, and what it looks like, only through this hook.
        access.register(
            may_view=selectors.run_may_view,
            snapshot=selectors.run_snapshot,
            visible_active_runs=selectors.run_list_visible_active,
        )
