from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Training runs"

    def ready(self) -> None:
        from monitoring import access as monitoring_access
        from runs import access, selectors

        # monitoring learns who may watch a run, and what it looks like, only through this hook;
        # the decision is runs.access's.
        monitoring_access.register(
            may_view=access.may_view_run,
            snapshot=selectors.run_snapshot,
            visible_active_runs=selectors.run_list_active,
        )
