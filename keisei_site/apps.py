"""collectstatic's ignore list: the npm packages it copies hold more than the pages use."""

from django.contrib.staticfiles.apps import StaticFilesConfig


class StaticFiles(StaticFilesConfig):
    # The board's font (@fontsource/noto-serif-jp) ships 8 weights in woff2 and woff: 2,000
    # files, 95 MB. The pages load weight 400 (its CSS) and every browser they support takes
    # woff2: 124 files, 5 MB.
    ignore_patterns = [
        *StaticFilesConfig.ignore_patterns,
        "noto-serif-jp-*-[1235-9]00-*",
        "noto-serif-jp-*.woff",
    ]
