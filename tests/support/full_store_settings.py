"""The site's settings with an artifact store that can be full (tests.support.full_store)."""

from keisei_site.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "default": {"BACKEND": "tests.support.full_store.FullStoreStorage"},
}
