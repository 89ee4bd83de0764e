"""The run lifecycle: runs, commands; services, selectors, tasks, API, pages, admin."""
